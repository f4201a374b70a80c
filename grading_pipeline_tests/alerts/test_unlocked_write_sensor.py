"""unlocked_write_sensor on the project's real assets: a date written without its lock (locking
switched off, or the lock store unreachable with proceed_when_unavailable) is alerted once per run
and asset, single-date runs and range runs alike (each date's materialization metadata is its own)."""

from __future__ import annotations

import datetime as dt

import pytest
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.sensors import unlocked_write_sensor
from grading_pipeline_tests.alerts.conftest import WEBSERVER, tick
from grading_pipeline.tables import PREDICTION_ACCURACY
from grading_pipeline_tests.conftest import materialize_graded
from grading_pipeline_tests.support.warehouse_rows import load_season

START = dt.date(2025, 10, 21)


@pytest.fixture
def season(warehouse):
    season = load_season(warehouse, START, 4, 40, 5)
    return season


def lock(tmp_path, **config) -> PartitionLockResource:
    return PartitionLockResource(backend="sqlite", sqlite_path=str(tmp_path / "locks.sqlite"), max_wait_seconds=10,
                                 poll_interval_seconds=0.05, lease_seconds=30, **config)


def run(instance, warehouse, partition_lock, start: dt.date, end: dt.date | None = None, selection=None):
    resources = {"warehouse": warehouse, "partition_lock": partition_lock}
    result = materialize_graded(resources, instance, start, end, selection)
    assert result.success
    return result


def by_title(slack_server) -> dict[str, str]:
    return {m["blocks"][0]["text"]["text"]: m["text"] for m in slack_server.messages}


def test_a_date_written_with_locking_disabled_is_alerted_once_per_asset(season, instance, warehouse, tmp_path,
                                                                          slack_server, slack_alerts):
    cursor = tick(unlocked_write_sensor, instance, slack_alerts, None).cursor
    day = season.game_dates[0]
    result = run(instance, warehouse, lock(tmp_path, enabled=False), day)

    for _ in range(3):
        cursor = tick(unlocked_write_sensor, instance, slack_alerts, cursor).cursor

    alerts = by_title(slack_server)
    assert set(alerts) == {f"Written WITHOUT the partition lock: {name} {day}"
                           for name in ("prediction_accuracy", "system_daily_performance", "system_scorecard")}
    text = alerts[f"Written WITHOUT the partition lock: prediction_accuracy {day}"]
    assert f"Dates: {day}" in text and f"Run: {result.run_id}" in text
    assert f"• locking disabled (GRADING_USE_LOCK=false) — {day}" in text
    assert f"{WEBSERVER}/runs/{result.run_id}" in text


def test_a_range_run_lists_its_dates_from_each_dates_metadata(season, instance, warehouse, tmp_path,
                                                              slack_server, slack_alerts):
    unreachable = PartitionLockResource(backend="sqlite", sqlite_path=str(tmp_path), proceed_when_unavailable=True)
    first, last = START, START + dt.timedelta(days=3)
    # Grading alone re-aggregates and re-scores its dates: every table was written unlocked.
    result = run(instance, warehouse, unreachable, first, last, selection=[PREDICTION_ACCURACY.asset_key])

    cursor = tick(unlocked_write_sensor, instance, slack_alerts, None).cursor
    tick(unlocked_write_sensor, instance, slack_alerts, cursor)

    alerts = by_title(slack_server)  # one alert per asset of the run, not one per partition
    assert set(alerts) == {f"Written WITHOUT the partition lock: {name} {first}..{last}"
                           for name in ("prediction_accuracy", "system_daily_performance", "system_scorecard")}
    text = alerts[f"Written WITHOUT the partition lock: prediction_accuracy {first}..{last}"]
    assert f"Dates: {first}..{last}" in text and "wrote 4 date(s)" in text
    assert "• lock backend sqlite unavailable: SQLite lock store" in text
    assert f"Run partitions: {first}..{last}" in text and result.run_id in text


def test_locked_writes_are_not_alerted(season, instance, warehouse, tmp_path, slack_server, slack_alerts):
    cursor = tick(unlocked_write_sensor, instance, slack_alerts, None).cursor
    run(instance, warehouse, lock(tmp_path), season.game_dates[0])
    run(instance, warehouse, lock(tmp_path), START, START + dt.timedelta(days=2))

    result = tick(unlocked_write_sensor, instance, slack_alerts, cursor)

    assert slack_server.messages == [] and result.message == "No new unlocked write."


def test_slack_down_keeps_the_alert_for_the_next_tick(season, instance, warehouse, tmp_path, slack_server,
                                                      slack_alerts, slack_down):
    cursor = tick(unlocked_write_sensor, instance, slack_alerts, None).cursor
    run(instance, warehouse, lock(tmp_path, enabled=False), season.game_dates[0])

    with pytest.raises(Exception, match="could not reach Slack"):
        tick(unlocked_write_sensor, instance, slack_down, cursor)
    for _ in range(2):
        cursor = tick(unlocked_write_sensor, instance, slack_alerts, cursor).cursor

    assert len(slack_server.messages) == 3  # one per asset, each exactly once

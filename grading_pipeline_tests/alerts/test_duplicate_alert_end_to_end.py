"""End to end on the real assets and checks: duplicates slip into the new rows of a graded date ->
the blocking check fails before COMMIT, the write is rolled back (the previous version stays),
and exactly one "Grading Duplicate Alert" reaches Slack, with the date, the number of duplicate
business keys and what happened; Slack down then up -> still exactly one."""

from __future__ import annotations

import datetime as dt

import pytest

from grading_pipeline.audits import NO_DUPLICATE_BUSINESS_KEYS as DUPLICATE_AUDIT
from grading_pipeline.sensors import failed_check_sensor
from grading_pipeline.warehouse.duckdb_warehouse import DuckDBSession
from grading_pipeline_tests.alerts.conftest import tick
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import load_season

NO_DUPLICATE_BUSINESS_KEYS = DUPLICATE_AUDIT.name

START = dt.date(2025, 10, 21)


@pytest.fixture
def instance():  # the alerts folder's instance fixture is parametrized; one storage is enough here
    from dagster import DagsterInstance

    return DagsterInstance.ephemeral()


@pytest.fixture
def duplicated_date(warehouse, grade, monkeypatch):
    season = load_season(warehouse, START, 2, 200, 4)
    day = season.game_dates[0]
    assert grade(day).success

    def staged_with_duplicates(self, writes):  # a writer bug: three graded rows written twice
        self.con.execute("INSERT INTO nba_predictions.prediction_accuracy SELECT * FROM "
                         "nba_predictions.prediction_accuracy ORDER BY player_lookup, system_id LIMIT 3")

    monkeypatch.setattr(DuckDBSession, "_staged", staged_with_duplicates)
    result = grade(day, raise_on_error=False)
    assert not result.success
    return day


def duplicate_alerts(slack_server) -> list[dict]:
    return [m for m in slack_server.messages if "Grading Duplicate Alert" in m["text"]]


def test_one_duplicate_alert_with_the_date_count_and_the_rollback(duplicated_date, instance, warehouse, slack_server,
                                                                  slack_alerts):
    (duplicates,) = fetch(warehouse, "SELECT COUNT(*) FROM (SELECT 1 FROM nba_predictions.prediction_accuracy "
                                     "GROUP BY game_date, player_lookup, game_id, system_id, line_value HAVING COUNT(*) > 1)")[0]
    assert duplicates == 0  # the previous version, whole
    cursor = None
    for _ in range(3):
        cursor = tick(failed_check_sensor, instance, slack_alerts, cursor).cursor
    (alert,) = duplicate_alerts(slack_server)
    assert str(duplicated_date) in alert["text"] and "3 business key(s)" in alert["text"]
    assert NO_DUPLICATE_BUSINESS_KEYS in str(alert) and "ROLLED BACK" in alert["text"]
    assert "Nothing to clean" in alert["text"]


def test_slack_down_then_up_still_one_alert(duplicated_date, instance, slack_server, slack_alerts, slack_down):
    with pytest.raises(Exception):
        tick(failed_check_sensor, instance, slack_down, None)
    cursor = None  # the daemon keeps the previous cursor after a failed tick
    for _ in range(2):
        cursor = tick(failed_check_sensor, instance, slack_alerts, cursor).cursor
    assert len(duplicate_alerts(slack_server)) == 1

"""failed_check_sensor on real ASSET_CHECK_EVALUATION events: test-only assets and checks with the
project's asset keys and check names (the lead's checks are not needed)."""

import json

import pytest
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    materialize,
)

from grading_pipeline.alerts import SlackDeliveryError
from grading_pipeline.sensors import failed_check_sensor
from grading_pipeline_tests.alerts.conftest import WEBSERVER, tick
from grading_pipeline_tests.conftest import RANGE_END_TAG, RANGE_START_TAG

days = DailyPartitionsDefinition(start_date="2026-01-01")

#: What the checks report in the next run (set by each test).
OUTCOME: dict = {}

SAMPLE_KEYS = [
    {"player_lookup": "lebronjames", "game_id": "20260117_LAL_BOS", "system_id": "catboost_v8", "line_value": 25.5,
     "copies": 2, "first_graded_at": "2026-01-18T11:00:00+00:00", "last_graded_at": "2026-01-18T11:00:04+00:00"},
    {"player_lookup": "jaysontatum", "game_id": "20260117_LAL_BOS", "system_id": "ensemble_v1", "line_value": None,
     "copies": 3, "first_graded_at": "2026-01-18T11:00:00+00:00", "last_graded_at": "2026-01-18T11:00:09+00:00"},
]


@asset(key_prefix=["nba_predictions"], name="prediction_accuracy", partitions_def=days)
def accuracy() -> MaterializeResult:
    return MaterializeResult(metadata={"lock_held": True, "rows_graded": 10})


@asset_check(asset=accuracy, name="no_duplicate_business_keys", blocking=True, partitions_def=days)
def no_duplicate_business_keys(context: AssetCheckExecutionContext) -> AssetCheckResult:
    duplicates = OUTCOME.get("duplicate_keys", 0)
    return AssetCheckResult(
        passed=duplicates == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "game_date": OUTCOME.get("game_date", "2026-01-17"),
            "duplicate_keys": duplicates,
            "extra_rows": OUTCOME.get("extra_rows", 0),
            "sample_keys": MetadataValue.json(SAMPLE_KEYS if duplicates else []),
        },
    )


@asset_check(asset=accuracy, name="actuals_coverage", partitions_def=days)
def actuals_coverage(context: AssetCheckExecutionContext) -> AssetCheckResult:
    coverage = OUTCOME.get("coverage", 1.0)
    return AssetCheckResult(
        passed=coverage >= 0.95,
        severity=AssetCheckSeverity.WARN,
        description=f"{coverage:.0%} of graded predictions have a box score",
        metadata={"actuals_coverage": coverage},
    )


@asset_check(asset=accuracy, name="values_are_sane", partitions_def=days)
def values_are_sane(context: AssetCheckExecutionContext) -> AssetCheckResult:
    return AssetCheckResult(passed=True)


CHECKED = [accuracy, no_duplicate_business_keys, actuals_coverage, values_are_sane]


def grade(instance, partition="2026-01-17", **outcome):
    OUTCOME.clear()
    OUTCOME.update(outcome)
    if ".." in partition:
        start, end = partition.split("..")
        result = materialize(CHECKED, instance=instance, raise_on_error=False,
                             tags={RANGE_START_TAG: start, RANGE_END_TAG: end})
    else:
        result = materialize(CHECKED, instance=instance, partition_key=partition, raise_on_error=False)
    return result


def titles(slack_server):
    return [m["blocks"][0]["text"]["text"] for m in slack_server.messages]


def test_every_failed_check_is_alerted_exactly_once_across_ticks(instance, slack_server, slack_alerts):
    cursor = tick(failed_check_sensor, instance, slack_alerts, None).cursor  # nothing yet
    assert slack_server.messages == []

    grade(instance, duplicate_keys=2, extra_rows=3, coverage=0.5)  # ERROR + WARN fail, one check passes
    for _ in range(3):
        cursor = tick(failed_check_sensor, instance, slack_alerts, cursor).cursor
    assert sorted(titles(slack_server)) == ["Grading Duplicate Alert", "Grading check failed (WARN): actuals_coverage 2026-01-17"]

    grade(instance, partition="2026-01-18")  # all pass: nothing new
    cursor = tick(failed_check_sensor, instance, slack_alerts, cursor).cursor
    grade(instance, partition="2026-01-19", coverage=0.2)
    for _ in range(2):
        cursor = tick(failed_check_sensor, instance, slack_alerts, cursor).cursor
    assert len(slack_server.messages) == 3
    assert titles(slack_server)[-1] == "Grading check failed (WARN): actuals_coverage 2026-01-19"
    assert json.loads(cursor)["after_storage_id"] > 0


def test_the_duplicate_alert_says_date_count_status_action_samples_and_run(instance, slack_server, slack_alerts):
    result = grade(instance, duplicate_keys=2, extra_rows=3)
    assert not result.success  # blocking + ERROR fails the run

    tick(failed_check_sensor, instance, slack_alerts, None)

    [message] = slack_server.messages
    text = message["text"]
    assert message["blocks"][0]["text"]["text"] == "Grading Duplicate Alert"
    assert "Date: 2026-01-17" in text and "Duplicate business keys: 2" in text and "Extra rows: 3" in text
    assert "Status: the stored rows contain duplicates" in text  # a check of the table as it is
    assert text.index("grading-pipeline cleanup --dry-run") < text.index("`grading-pipeline cleanup`")
    assert "grading-pipeline grade --start 2026-01-17 --end 2026-01-17" in text
    assert "lebronjames | 20260117_LAL_BOS | catboost_v8 | line 25.5 | ×2" in text
    assert "jaysontatum | 20260117_LAL_BOS | ensemble_v1 | line NULL | ×3" in text  # NULL is a value of the key
    assert f"{WEBSERVER}/runs/{result.run_id}" in text


def test_a_range_run_check_without_partition_uses_the_run_range(instance, slack_server, slack_alerts):
    grade(instance, partition="2026-01-01..2026-01-10", duplicate_keys=1, extra_rows=1, game_date="2026-01-01..2026-01-10",
          coverage=0.1)

    tick(failed_check_sensor, instance, slack_alerts, None)

    by_title = {m["blocks"][0]["text"]["text"]: m["text"] for m in slack_server.messages}
    assert "Date: 2026-01-01..2026-01-10" in by_title["Grading Duplicate Alert"]
    assert "grading-pipeline grade --start 2026-01-01 --end 2026-01-10" in by_title["Grading Duplicate Alert"]
    # the coverage check has no game_date metadata and partition None: the run's range tags name the dates
    assert "Grading check failed (WARN): actuals_coverage 2026-01-01..2026-01-10" in by_title


def test_slack_down_then_back_the_alert_arrives_once_and_is_not_skipped(instance, slack_server, slack_alerts, slack_down):
    cursor = tick(failed_check_sensor, instance, slack_alerts, None).cursor
    grade(instance, duplicate_keys=1, extra_rows=1)

    # Slack refuses connections: the tick fails loudly, the daemon keeps the previous cursor.
    with pytest.raises(Exception, match="could not reach Slack"):
        tick(failed_check_sensor, instance, slack_down, cursor)
    # Slack answers 500 for longer than one send's retries: fails again.
    slack_server.fail_next(3, status=500)
    with pytest.raises(Exception, match="HTTP 500"):
        tick(failed_check_sensor, instance, slack_alerts, cursor)
    assert slack_server.messages == []

    # Back (after one more 500 that the client retries): delivered exactly once, then never again.
    slack_server.fail_next(1, status=500)
    cursor = tick(failed_check_sensor, instance, slack_alerts, cursor).cursor
    for _ in range(2):
        cursor = tick(failed_check_sensor, instance, slack_alerts, cursor).cursor
    assert titles(slack_server) == ["Grading Duplicate Alert"]


def test_a_failure_after_some_alerts_keeps_them_sent_and_retries_only_the_rest(instance, slack_server, slack_alerts):
    cursor = tick(failed_check_sensor, instance, slack_alerts, None).cursor
    grade(instance, partition="2026-01-17", coverage=0.5)
    grade(instance, partition="2026-01-18", coverage=0.4)

    slack_server.succeed_next(1)  # the first alert goes through; then Slack refuses the second
    slack_server.error_next(1, "channel_not_found")
    result = tick(failed_check_sensor, instance, slack_alerts, cursor)
    assert "Sent 1 failed check alert(s), then delivery FAILED" in result.message
    assert "channel_not_found" in result.message
    assert len(slack_server.messages) == 1

    tick(failed_check_sensor, instance, slack_alerts, result.cursor)
    assert titles(slack_server) == [
        "Grading check failed (WARN): actuals_coverage 2026-01-17",
        "Grading check failed (WARN): actuals_coverage 2026-01-18",
    ]


def test_not_configured_logs_the_alert_and_advances(instance, capfd):
    from grading_pipeline.alerts import NOT_CONFIGURED_MARKER, SlackAlerts

    grade(instance, duplicate_keys=1, extra_rows=1)
    first = tick(failed_check_sensor, instance, SlackAlerts(), None)
    second = tick(failed_check_sensor, instance, SlackAlerts(), first.cursor)

    assert first.message == "Sent 1 failed check alert(s)." and second.message == "No new failed check."
    # The sensor's context.log: in the daemon, the tick's log; here, the console.
    logged = capfd.readouterr().err
    assert logged.count(NOT_CONFIGURED_MARKER) == 1
    assert f"WARNING - {NOT_CONFIGURED_MARKER} alert for #grading-alerts" in logged
    assert "Grading Duplicate Alert" in logged.split(NOT_CONFIGURED_MARKER)[1]


def test_a_delivery_error_is_a_clear_failure(instance, slack_server, slack_alerts):
    grade(instance, coverage=0.1)
    slack_server.error_next(1, "invalid_auth")
    with pytest.raises(Exception) as failure:
        tick(failed_check_sensor, instance, slack_alerts, None)
    assert "invalid_auth" in str(failure.value)
    assert isinstance(failure.value, SlackDeliveryError) or isinstance(failure.value.__cause__, SlackDeliveryError)


def test_a_run_with_two_failed_checks_resumes_at_the_unsent_one(instance, slack_server, slack_alerts):
    cursor = tick(failed_check_sensor, instance, slack_alerts, None).cursor
    grade(instance, duplicate_keys=1, extra_rows=1, coverage=0.5)  # two failed checks in one run

    slack_server.succeed_next(1)
    slack_server.fail_next(3, status=503)  # the second alert: every attempt fails
    partial = tick(failed_check_sensor, instance, slack_alerts, cursor)
    assert "Sent 1 failed check alert(s), then delivery FAILED" in partial.message
    assert json.loads(partial.cursor)["sent_of_next"] == 1

    tick(failed_check_sensor, instance, slack_alerts, partial.cursor)
    assert sorted(titles(slack_server)) == ["Grading Duplicate Alert", "Grading check failed (WARN): actuals_coverage 2026-01-17"]


def test_first_tick_skips_runs_older_than_the_lookback(instance, slack_server, slack_alerts, monkeypatch):
    import grading_pipeline.sensors as sensors

    grade(instance, coverage=0.1)
    monkeypatch.setattr(sensors, "INITIAL_LOOKBACK", sensors.dt.timedelta(seconds=0))
    result = tick(failed_check_sensor, instance, slack_alerts, None)

    assert slack_server.messages == [] and result.message == "No new failed check."
    grade(instance, partition="2026-01-18", coverage=0.1)
    tick(failed_check_sensor, instance, slack_alerts, result.cursor)
    assert titles(slack_server) == ["Grading check failed (WARN): actuals_coverage 2026-01-18"]


def test_one_check_failed_on_several_dates_of_a_range_is_one_alert_naming_them():
    """A range run records one evaluation per date; the alert groups them per check."""
    from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey

    from grading_pipeline.sensors import merged_check_metadata

    evaluations = [
        AssetCheckEvaluation(asset_key=AssetKey(["nba_predictions", "prediction_accuracy"]),
                             check_name="no_duplicate_business_keys", passed=False, severity=AssetCheckSeverity.ERROR,
                             blocking=True, partition=day, description=f"{n} duplicate business keys",
                             metadata={"duplicate_keys": n, "extra_rows": n, "published": False,
                                       "sample_keys": json.dumps([{**SAMPLE_KEYS[0], "game_date": day}])})
        for day, n in (("2026-01-03", 2), ("2026-01-04", 1), ("2026-01-09", 4))
    ]
    merged = merged_check_metadata(evaluations)
    assert merged["game_date"] == "2026-01-03..2026-01-04, 2026-01-09"
    assert (merged["duplicate_keys"], merged["extra_rows"]) == (7, 7) and merged["published"] is False
    assert merged["per_date"] == {"2026-01-03": 2, "2026-01-04": 1, "2026-01-09": 4}
    alert = check_failure_alert_of(merged)
    text = alert.plain_text()
    assert "Dates with duplicates: 2026-01-03..2026-01-04, 2026-01-09" in text and "ROLLED BACK" in text
    assert "grading-pipeline grade --start 2026-01-03 --end 2026-01-09" in text


def check_failure_alert_of(metadata):
    from grading_pipeline.alerts.messages import check_failure_alert

    return check_failure_alert(
        asset_path=["nba_predictions", "prediction_accuracy"], check_name="no_duplicate_business_keys", severity="ERROR",
        partition=metadata["game_date"], blocking=True, description=None, metadata=metadata, run_id="r1",
        run_tags={}, webserver_base_url=WEBSERVER,
    )

"""grading_run_failure_sensor on real failed runs (test-only assets with the project's asset keys,
and the project's own job run in-process as ``grading-pipeline grade`` runs it), on both kinds of
event log storage: each failed run alerted exactly once, never lost when Slack is down."""

import json
import uuid

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterRunStatus,
    DailyPartitionsDefinition,
    asset,
    materialize,
)

from grading_pipeline.alerts import SlackDeliveryError
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.sensors import grading_run_failure_sensor
from grading_pipeline_tests.alerts.conftest import CODE_LOCATION, REPOSITORY, WEBSERVER, tick
from grading_pipeline_tests.conftest import RANGE_END_TAG, RANGE_START_TAG

days = DailyPartitionsDefinition(start_date="2026-01-01")


class WarehouseQueryError(Exception):
    pass


@asset(key_prefix=["nba_predictions"], name="prediction_accuracy", partitions_def=days)
def failing_accuracy(context: AssetExecutionContext) -> None:
    try:
        raise ConnectionResetError("connection reset by peer")
    except ConnectionResetError as exc:
        raise WarehouseQueryError("query of player_prop_predictions failed for 2026-01-17") from exc


@asset(key_prefix=["nba_predictions"], name="prediction_accuracy", partitions_def=days)
def passing_accuracy() -> None:
    pass


@asset(key_prefix=["nba_predictions"], name="prediction_accuracy", partitions_def=days)
def locked_accuracy(context: AssetExecutionContext, partition_lock: PartitionLockResource) -> None:
    for key in context.partition_keys:
        with partition_lock.hold("grading", key, operation_id=f"grading_{key}:{context.run.run_id}",
                                 run_id=context.run.run_id, step=context.op_execution_context.op_handle.name):
            pass


def failed_run(instance, assets=(failing_accuracy,), partition_key="2026-01-17", **kwargs):
    result = materialize(list(assets), instance=instance, raise_on_error=False, partition_key=partition_key, **kwargs)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run.status == DagsterRunStatus.FAILURE
    return run


def titles(slack_server) -> list[str]:
    return [m["blocks"][0]["text"]["text"] for m in slack_server.messages]


def test_a_failed_run_alert_names_job_partition_step_root_error_and_links_the_run(instance, slack_server, slack_alerts):
    run = failed_run(instance)

    result = tick(grading_run_failure_sensor, instance, slack_alerts, None)  # the first tick looks back

    assert result.message == "Sent 1 run failure alert(s)."
    [message] = slack_server.messages
    text = message["text"]
    assert text.startswith(f"Grading run failed: {run.job_name} 2026-01-17")
    assert f"Job: {run.job_name}" in text and "Partition: 2026-01-17" in text
    assert "Failed steps: nba_predictions__prediction_accuracy" in text
    # The user's exception, not Dagster's wrapper; and its own cause.
    assert "WarehouseQueryError: query of player_prop_predictions failed for 2026-01-17" in text
    assert "caused by:\n```\nConnectionResetError: connection reset by peer\n```" in text
    assert "DagsterExecutionStepExecutionError" not in text
    assert f"{WEBSERVER}/runs/{run.run_id}" in text
    assert message["blocks"][0]["text"]["text"].startswith("Grading run failed")


def test_a_range_run_shows_its_range(instance, slack_server, slack_alerts):
    failed_run(instance, partition_key=None, tags={RANGE_START_TAG: "2026-01-01", RANGE_END_TAG: "2026-01-31"})

    tick(grading_run_failure_sensor, instance, slack_alerts, None)

    [message] = slack_server.messages
    assert "Partitions: 2026-01-01..2026-01-31" in message["text"]
    assert "grading-pipeline grade --start 2026-01-01 --end 2026-01-31" in message["text"]


def test_a_retried_run_shows_its_attempt(instance, slack_server, slack_alerts):
    root = str(uuid.uuid4())
    failed_run(instance, tags={"dagster/retry_number": "2", "dagster/root_run_id": root})

    tick(grading_run_failure_sensor, instance, slack_alerts, None)

    [message] = slack_server.messages
    assert f"Attempt: retry 2 of run {root}" in message["text"]


def test_a_lock_timeout_is_a_lock_acquisition_alert_naming_the_holder(instance, slack_server, slack_alerts, tmp_path):
    lock_file = str(tmp_path / "locks.sqlite")
    holder = PartitionLockResource(backend="sqlite", sqlite_path=lock_file, lease_seconds=30)
    contender = PartitionLockResource(backend="sqlite", sqlite_path=lock_file, max_wait_seconds=0.3,
                                      poll_interval_seconds=0.05, lease_seconds=30)
    holder_run = str(uuid.uuid4())
    with holder.hold("grading", "2026-01-17", operation_id=f"grading_2026-01-17:{holder_run}", run_id=holder_run, step="other"):
        run = failed_run(instance, [locked_accuracy], resources={"partition_lock": contender})

    tick(grading_run_failure_sensor, instance, slack_alerts, None)

    [message] = slack_server.messages
    text = message["text"]
    assert message["blocks"][0]["text"]["text"] == f"Lock acquisition failed: {run.job_name} 2026-01-17"
    assert "LockTimeoutError: timed out after" in text and f"held by {holder_run}:other:" in text
    assert "grading-pipeline locks list" in text
    assert f"Holder's run: {WEBSERVER}/runs/{holder_run}" in text
    assert "grading-pipeline locks release grading 2026-01-17" in text
    assert f"{WEBSERVER}/runs/{run.run_id}" in text


def test_an_unreachable_lock_backend_is_a_lock_acquisition_alert(instance, slack_server, slack_alerts, tmp_path):
    unreachable = PartitionLockResource(backend="sqlite", sqlite_path=str(tmp_path))  # a directory: cannot be opened
    failed_run(instance, [locked_accuracy], resources={"partition_lock": unreachable})

    tick(grading_run_failure_sensor, instance, slack_alerts, None)

    [message] = slack_server.messages
    assert message["blocks"][0]["text"]["text"].startswith("Lock acquisition failed")
    assert "LockBackendUnavailableError: SQLite lock store" in message["text"]
    assert "The lock backend could not be reached" in message["text"]


def test_every_failed_run_is_alerted_exactly_once_and_successful_runs_never(instance, slack_server, slack_alerts):
    cursor = tick(grading_run_failure_sensor, instance, slack_alerts, None).cursor
    assert materialize([passing_accuracy], instance=instance, partition_key="2026-01-16").success
    result = tick(grading_run_failure_sensor, instance, slack_alerts, cursor)
    assert slack_server.messages == [] and result.message == "No new run failure."

    first = failed_run(instance, partition_key="2026-01-17")
    assert materialize([passing_accuracy], instance=instance, partition_key="2026-01-18").success
    second = failed_run(instance, partition_key="2026-01-19")
    cursor = result.cursor
    for _ in range(3):
        cursor = tick(grading_run_failure_sensor, instance, slack_alerts, cursor).cursor

    assert [t.split()[-1] for t in titles(slack_server)] == ["2026-01-17", "2026-01-19"]
    assert first.run_id in slack_server.messages[0]["text"] and second.run_id in slack_server.messages[1]["text"]
    assert json.loads(cursor)["after_storage_id"] > 0


def test_slack_down_then_back_the_alert_arrives_exactly_once(instance, slack_server, slack_alerts, slack_down):
    """Failed with the old @run_failure_sensor: its cursor moved past the run although nothing was sent."""
    cursor = tick(grading_run_failure_sensor, instance, slack_alerts, None).cursor
    run = failed_run(instance)

    # Slack refuses connections: the tick fails loudly, the daemon keeps the previous cursor.
    with pytest.raises(Exception, match="could not reach Slack"):
        tick(grading_run_failure_sensor, instance, slack_down, cursor)
    # Slack answers 500 for longer than one send's retries: fails again.
    slack_server.fail_next(3, status=500)
    with pytest.raises(Exception, match="HTTP 500"):
        tick(grading_run_failure_sensor, instance, slack_alerts, cursor)
    assert slack_server.messages == []

    # Back (after one more 500 that the client retries): delivered exactly once, then never again.
    slack_server.fail_next(1, status=500)
    for _ in range(3):
        cursor = tick(grading_run_failure_sensor, instance, slack_alerts, cursor).cursor
    [message] = slack_server.messages
    assert message["blocks"][0]["text"]["text"] == f"Grading run failed: {run.job_name} 2026-01-17"


def test_a_failure_after_some_alerts_keeps_them_sent_and_retries_only_the_rest(instance, slack_server, slack_alerts):
    cursor = tick(grading_run_failure_sensor, instance, slack_alerts, None).cursor
    failed_run(instance, partition_key="2026-01-17")
    failed_run(instance, partition_key="2026-01-18")

    slack_server.succeed_next(1)  # the first alert goes through; then Slack refuses the second
    slack_server.error_next(1, "channel_not_found")
    partial = tick(grading_run_failure_sensor, instance, slack_alerts, cursor)
    assert "Sent 1 run failure alert(s), then delivery FAILED" in partial.message
    assert "channel_not_found" in partial.message

    tick(grading_run_failure_sensor, instance, slack_alerts, partial.cursor)
    assert [t.split()[-1] for t in titles(slack_server)] == ["2026-01-17", "2026-01-18"]


def test_slack_down_fails_the_tick_loudly(instance, slack_down):
    failed_run(instance)

    with pytest.raises(Exception) as failure:
        tick(grading_run_failure_sensor, instance, slack_down, None)
    assert "could not reach Slack" in str(failure.value)
    assert isinstance(failure.value, SlackDeliveryError) or isinstance(failure.value.__cause__, SlackDeliveryError)


def test_an_in_process_run_of_the_grade_command_is_alerted(instance, slack_server, slack_alerts, tmp_path, monkeypatch):
    """``grading-pipeline grade`` runs the project's grade_game_date job in-process: the run records
    no code location, so a run-failure sensor with monitor_all_code_locations=False, evaluated in
    its code location as under the daemon, never saw it."""
    import datetime as dt

    from grading_pipeline.cli import grade_range

    cursor = tick(grading_run_failure_sensor, instance, slack_alerts, None, code_location=True).cursor
    monkeypatch.setenv("GRADING_DUCKDB_PATH", str(tmp_path / "warehouse.duckdb"))
    monkeypatch.setenv("GRADING_LOCK_BACKEND", "sqlite")
    monkeypatch.setenv("GRADING_LOCK_PATH", str(tmp_path))  # a directory: the lock store cannot be opened
    result = grade_range(dt.date(2025, 10, 21), dt.date(2025, 10, 22), instance=instance)
    assert not result.success
    assert instance.get_run_by_id(result.run_id).remote_job_origin is None  # in-process

    for _ in range(2):
        cursor = tick(grading_run_failure_sensor, instance, slack_alerts, cursor, code_location=True).cursor

    [message] = slack_server.messages
    assert message["blocks"][0]["text"]["text"] == "Lock acquisition failed: grade_game_date 2025-10-21..2025-10-22"
    assert f"{WEBSERVER}/runs/{result.run_id}" in message["text"]


def test_runs_of_this_code_location_launched_or_in_process_are_alerted_not_another_locations(
        instance, slack_server, slack_alerts):
    from dagster import job, op
    from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin

    @op
    def noop() -> None:
        pass

    @job
    def grade_game_date() -> None:
        noop()

    def launched_from(location: str):  # a run the webserver / daemon launched from a code location, then failed
        origin = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(location), REPOSITORY)
        run = instance.create_run_for_job(job_def=grade_game_date,
                                          remote_job_origin=RemoteJobOrigin(origin, "grade_game_date"))
        instance.report_run_failed(run)
        return run

    cursor = tick(grading_run_failure_sensor, instance, slack_alerts, None, code_location=True).cursor
    theirs = launched_from("other_project")
    launched = launched_from(CODE_LOCATION)
    in_process = failed_run(instance)
    for _ in range(2):
        cursor = tick(grading_run_failure_sensor, instance, slack_alerts, cursor, code_location=True).cursor

    texts = [m["text"] for m in slack_server.messages]
    assert len(texts) == 2
    assert launched.run_id in texts[0] and "This run has been marked as failed" in texts[0]  # a run-level error
    assert in_process.run_id in texts[1]
    assert not any(theirs.run_id in text for text in texts)


def test_first_tick_skips_failures_older_than_the_lookback(instance, slack_server, slack_alerts, monkeypatch):
    import grading_pipeline.sensors as sensors

    failed_run(instance, partition_key="2026-01-17")
    monkeypatch.setattr(sensors, "INITIAL_LOOKBACK", sensors.dt.timedelta(seconds=0))
    result = tick(grading_run_failure_sensor, instance, slack_alerts, None)

    assert slack_server.messages == [] and result.message == "No new run failure."
    failed_run(instance, partition_key="2026-01-18")
    tick(grading_run_failure_sensor, instance, slack_alerts, result.cursor)
    assert [t.split()[-1] for t in titles(slack_server)] == ["2026-01-18"]

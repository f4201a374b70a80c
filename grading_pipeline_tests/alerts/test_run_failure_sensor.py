"""grading_run_failure_sensor on real failed runs (test-only assets with the project's asset keys)."""


import uuid

import pytest
from dagster import (
    AssetExecutionContext,
    DagsterInstance,
    DailyPartitionsDefinition,
    DagsterRunStatus,
    asset,
    build_run_status_sensor_context,
    materialize,
)

from grading_pipeline.alerts import SlackDeliveryError
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.sensors import grading_run_failure_sensor
from grading_pipeline_tests.alerts.conftest import WEBSERVER
from grading_pipeline_tests.conftest import RANGE_END_TAG, RANGE_START_TAG

days = DailyPartitionsDefinition(start_date="2026-01-01")


@pytest.fixture
def instance() -> DagsterInstance:
    """Dagster hands the run to the sensor: no cross-run query, one kind of storage is enough."""
    return DagsterInstance.ephemeral()


class WarehouseQueryError(Exception):
    pass


@asset(key_prefix=["nba_predictions"], name="prediction_accuracy", partitions_def=days)
def failing_accuracy(context: AssetExecutionContext) -> None:
    try:
        raise ConnectionResetError("connection reset by peer")
    except ConnectionResetError as exc:
        raise WarehouseQueryError("query of player_prop_predictions failed for 2026-01-17") from exc


@asset(key_prefix=["nba_predictions"], name="prediction_accuracy", partitions_def=days)
def locked_accuracy(context: AssetExecutionContext, partition_lock: PartitionLockResource) -> None:
    for key in context.partition_keys:
        with partition_lock.hold("grading", key, operation_id=f"grading_{key}:{context.run.run_id}",
                                 run_id=context.run.run_id, step=context.op_execution_context.op_handle.name):
            pass


def failed_run(instance, assets, **kwargs):
    result = materialize(assets, instance=instance, raise_on_error=False, **kwargs)
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run.status == DagsterRunStatus.FAILURE
    return run, result.get_run_failure_event()


def evaluate(instance, run, failure_event, slack) -> None:
    context = build_run_status_sensor_context(
        sensor_name="grading_run_failure_sensor", dagster_instance=instance, dagster_run=run,
        dagster_event=failure_event, resources={"slack_alerts": slack},
    ).for_run_failure()
    grading_run_failure_sensor(context)


def test_a_failed_run_alert_names_job_partition_step_root_error_and_links_the_run(instance, slack_server, slack_alerts):
    run, failure = failed_run(instance, [failing_accuracy], partition_key="2026-01-17")

    evaluate(instance, run, failure, slack_alerts)

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
    run, failure = failed_run(instance, [failing_accuracy], tags={RANGE_START_TAG: "2026-01-01", RANGE_END_TAG: "2026-01-31"})

    evaluate(instance, run, failure, slack_alerts)

    [message] = slack_server.messages
    assert "Partitions: 2026-01-01..2026-01-31" in message["text"]
    assert "grading-pipeline grade --start 2026-01-01 --end 2026-01-31" in message["text"]


def test_a_lock_timeout_is_a_lock_acquisition_alert_naming_the_holder(instance, slack_server, slack_alerts, tmp_path):
    lock_file = str(tmp_path / "locks.sqlite")
    holder = PartitionLockResource(backend="sqlite", sqlite_path=lock_file, lease_seconds=30)
    contender = PartitionLockResource(backend="sqlite", sqlite_path=lock_file, max_wait_seconds=0.3,
                                      poll_interval_seconds=0.05, lease_seconds=30)
    holder_run = str(uuid.uuid4())
    with holder.hold("grading", "2026-01-17", operation_id=f"grading_2026-01-17:{holder_run}", run_id=holder_run, step="other"):
        run, failure = failed_run(instance, [locked_accuracy], partition_key="2026-01-17",
                                  resources={"partition_lock": contender})

    evaluate(instance, run, failure, slack_alerts)

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
    run, failure = failed_run(instance, [locked_accuracy], partition_key="2026-01-17",
                              resources={"partition_lock": unreachable})

    evaluate(instance, run, failure, slack_alerts)

    [message] = slack_server.messages
    assert message["blocks"][0]["text"]["text"].startswith("Lock acquisition failed")
    assert "LockBackendUnavailableError: SQLite lock store" in message["text"]
    assert "The lock backend could not be reached" in message["text"]


def test_slack_down_fails_the_evaluation_loudly(instance, slack_down):
    run, failure = failed_run(instance, [failing_accuracy], partition_key="2026-01-17")

    with pytest.raises(SlackDeliveryError, match="could not reach Slack"):
        evaluate(instance, run, failure, slack_down)

"""deploy/dagster.prod.yaml loads as a real instance on PostgreSQL, with the run queue, run retries
and run monitoring it promises."""

from __future__ import annotations

import shutil

import pytest
import yaml
from dagster import DagsterInstance
from dagster._core.errors import DagsterInvalidConfigError
from dagster._core.instance.config import dagster_instance_config
from dagster._core.run_coordinator import QueuedRunCoordinator

from grading_pipeline_tests.production.conftest import PROD_YAML

PG_ENV = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")
PARTITION_LIMIT = {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}


def test_the_production_yaml_passes_dagsters_instance_schema(tmp_path):
    shutil.copyfile(PROD_YAML, tmp_path / "dagster.yaml")
    config, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert config["concurrency"]["runs"]["tag_concurrency_limits"] == [PARTITION_LIMIT]
    assert config["telemetry"] == {"enabled": False}


def test_a_queue_limit_in_the_legacy_run_queue_section_is_refused(tmp_path):
    """Why the limits live only under concurrency: runs: (the run_queue section keeps the rest)."""
    config = yaml.safe_load(PROD_YAML.read_text())
    config["run_queue"]["max_concurrent_runs"] = 3
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(DagsterInvalidConfigError, match="incompatible with the `concurrency > runs` config"):
        dagster_instance_config(str(tmp_path))


def test_without_the_dagster_pg_variables_the_instance_does_not_load(tmp_path, monkeypatch):
    shutil.copyfile(PROD_YAML, tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    for name in PG_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Exception, match="DAGSTER_PG_"):
        DagsterInstance.get()


@pytest.mark.postgres
def test_the_production_instance_keeps_everything_in_postgres(prod_instance, prod_home):
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    instance = prod_instance
    assert not instance.is_ephemeral
    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
    assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
    # Dagster created its schema in our database, through the DAGSTER_PG_* connection.
    tables = {row[0] for row in prod_home.database.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "run_tags", "event_logs", "asset_keys", "jobs", "job_ticks", "concurrency_slots"} <= tables

    # The run queue, with one run per partition at a time.
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    queue = instance.get_concurrency_config().run_queue_config
    assert queue is not None
    assert queue.max_concurrent_runs == 10
    assert queue.tag_concurrency_limits == [PARTITION_LIMIT]
    assert queue.max_user_code_failure_retries == 3 and queue.user_code_failure_retry_delay == 60

    assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_start_timeout_seconds == 300
    assert instance.run_monitoring_max_runtime_seconds == 7200
    assert instance.get_settings("telemetry") == {"enabled": False}

    # What `dagster-daemon run` will have to keep alive on this instance.
    daemons = set(instance.get_required_daemon_types())
    assert {"SCHEDULER", "SENSOR", "BACKFILL", "QUEUED_RUN_COORDINATOR", "MONITORING", "EVENT_LOG_CONSUMER"} <= daemons

"""Shared fixtures: a real DuckDB warehouse file and a real SQLite lock, both in tmp_path."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterInstance, materialize

from grading_pipeline.warehouse import DuckDBWarehouse

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture
def partition_lock(tmp_path):
    from grading_pipeline.resources.partition_lock import PartitionLockResource

    return PartitionLockResource(
        backend="sqlite",
        sqlite_path=str(tmp_path / "locks.sqlite"),
        max_wait_seconds=30.0,
        poll_interval_seconds=0.05,
        lease_seconds=30.0,
    )


@pytest.fixture
def instance() -> DagsterInstance:
    return DagsterInstance.ephemeral()


@pytest.fixture
def grade(warehouse, partition_lock, instance):
    """Materialize both assets for one date or an inclusive range (one run), on the real resources."""

    from grading_pipeline.assets import prediction_accuracy, system_daily_performance
    from grading_pipeline.checks import partition_checks

    def run(start: dt.date, end: dt.date | None = None, assets=None, raise_on_error=True, run_config=None):
        selection = assets or [prediction_accuracy, system_daily_performance, *partition_checks]
        resources = {"warehouse": warehouse, "partition_lock": partition_lock}
        if end is None or end == start:
            return materialize(
                selection, partition_key=start.isoformat(), resources=resources, instance=instance,
                raise_on_error=raise_on_error, run_config=run_config,
            )
        tags = {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}
        return materialize(
            selection, tags=tags, resources=resources, instance=instance,
            raise_on_error=raise_on_error, run_config=run_config,
        )

    return run


def fetch(warehouse: DuckDBWarehouse, sql: str, params: dict | None = None) -> list[tuple]:
    with warehouse._connection() as con:
        return con.execute(sql, params or {}).fetchall()

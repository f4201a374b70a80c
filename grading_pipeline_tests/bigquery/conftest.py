"""Fixtures of the BigQuery warehouse tests: the local emulator (one per session) and a
BigQueryWarehouse on datasets of its own for each test (the emulator has no reset)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from grading_pipeline.tables import WRITE_STAMP_COLUMNS
from grading_pipeline.warehouse import DuckDBWarehouse
from grading_pipeline.warehouse.bigquery_warehouse import DATASETS, BigQueryWarehouse
from grading_pipeline_tests.support.bigquery_emulator import (  # noqa: F401  (fixture)
    BigQueryEmulator,
    bigquery_emulator,
    fresh_prefix,
)

# Left out when engines are compared: clocks, and the provenance (who wrote a row; the inputs'
# versions, whose row fingerprints each engine computes its own way).
UNCOMPARABLE_COLUMNS = ("graded_at", "computed_at", "claimed_at", *WRITE_STAMP_COLUMNS,
                 "graded_from_player_prop_predictions", "graded_from_player_game_summary")


def pytest_configure(config) -> None:
    # Also to be listed in pyproject.toml; registered here so --strict-markers accepts it meanwhile.
    config.addinivalue_line("markers", "bigquery: needs the local BigQuery emulator (bqemulator)")


def make_warehouse(emulator: BigQueryEmulator, prefix: str | None = None) -> BigQueryWarehouse:
    return BigQueryWarehouse(
        project=emulator.project, dataset_prefix=prefix or fresh_prefix(), api_endpoint=emulator.endpoint,
        retry_initial_seconds=0.2, api_deadline_seconds=30.0, job_timeout_seconds=120.0,
    )


@pytest.fixture
def bq_warehouse(bigquery_emulator: BigQueryEmulator) -> Iterator[BigQueryWarehouse]:
    """A BigQueryWarehouse on the emulator, in datasets no other test uses; dropped afterwards."""
    if not bigquery_emulator.alive():
        pytest.fail(f"BigQuery emulator died:\n{bigquery_emulator.log_tail()}", pytrace=False)
    warehouse = make_warehouse(bigquery_emulator)
    yield warehouse
    client = bigquery_emulator.client()
    for dataset in DATASETS:
        client.delete_dataset(
            f"{warehouse.project}.{warehouse.physical_dataset(dataset)}", delete_contents=True, not_found_ok=True
        )
    client.close()


@pytest.fixture
def duck_warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"))


def bq_rows(warehouse: BigQueryWarehouse, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A BigQuery-dialect query on logical table names (`nba_predictions.x`), rows as dicts."""
    with warehouse.session() as session:
        return session.query_text(sql, params or {})


def duck_rows(warehouse: DuckDBWarehouse, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The same BigQuery-dialect text on DuckDB."""
    with warehouse.session() as session:
        return session.query_text(sql, params or {})


def table_rows(query, warehouse, table: str, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Every row of `table` dated in [start, end], clock columns left out, values made comparable
    across engines, in a stable order."""
    rows = query(
        warehouse, f"SELECT * FROM {table} WHERE game_date BETWEEN @start_date AND @end_date",
        {"start_date": start, "end_date": end},
    )
    cleaned = [{k: comparable(v) for k, v in row.items() if k not in UNCOMPARABLE_COLUMNS} for row in rows]
    return sorted(cleaned, key=lambda r: [(v is None, str(v)) for _, v in sorted(r.items())])


def comparable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
    return value

"""GRADING_ENV=prod end to end on local stand-ins: the BigQuery emulator for the warehouse and the
Firestore emulator for the lock, chosen by the environment alone (resources/by_environment.py),
driven through the console script and a real Dagster run."""

from __future__ import annotations

import pytest

from grading_pipeline import cli
from grading_pipeline.warehouse.bigquery_warehouse import DATASETS
from grading_pipeline_tests.bigquery.conftest import bq_rows
from grading_pipeline_tests.support.bigquery_emulator import fresh_prefix
from grading_pipeline_tests.support.firestore_emulator import (  # noqa: F401  (fixtures)
    firestore_emulator,
    firestore_emulator_clean,
)

pytestmark = [pytest.mark.bigquery, pytest.mark.firestore]


@pytest.fixture
def prod_env(bigquery_emulator, firestore_emulator_clean, monkeypatch):
    prefix = fresh_prefix()
    for name, value in {
        "GRADING_ENV": "prod",
        "GRADING_BQ_PROJECT": bigquery_emulator.project,
        "GRADING_BQ_API_ENDPOINT": bigquery_emulator.endpoint,
        "GRADING_BQ_DATASET_PREFIX": prefix,
        "GRADING_FIRESTORE_PROJECT": firestore_emulator_clean.project,
        **firestore_emulator_clean.env(),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GRADING_LOCK_BACKEND", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    yield prefix
    client = bigquery_emulator.client()
    for dataset in DATASETS:
        client.delete_dataset(f"{bigquery_emulator.project}.{prefix}{dataset}", delete_contents=True, not_found_ok=True)
    client.close()


def test_grading_in_prod_uses_bigquery_and_firestore_locks(prod_env, capsys):
    from grading_pipeline.resources.by_environment import build_resources

    resources = build_resources()
    assert type(resources["warehouse"]).__name__ == "BigQueryWarehouse"
    assert resources["partition_lock"].effective()["backend"] == "firestore"

    assert cli.main(["sample-data", "--start", "2025-11-01", "--days", "2", "--per-day", "120"]) == 0
    assert cli.main(["grade", "--start", "2025-11-01", "--end", "2025-11-02"]) == 0
    out = capsys.readouterr().out
    assert "SUCCESS" in out and "duplicate business keys: 0" in out

    warehouse = resources["warehouse"]
    (graded,) = bq_rows(warehouse, "SELECT COUNT(*) AS n FROM nba_predictions.prediction_accuracy "
                                   "WHERE game_date BETWEEN '2025-11-01' AND '2025-11-02'")
    fences = bq_rows(warehouse, "SELECT table_name, fencing_token FROM nba_predictions.partition_write_fences "
                                "WHERE game_date BETWEEN '2025-11-01' AND '2025-11-02'")
    assert graded["n"] > 100 and len(fences) == 6  # two dates x three tables, each claimed by a lock holder

    assert cli.main(["locks", "list"]) == 0
    listed = capsys.readouterr().out
    assert "on firestore" in listed and "grading_2025-11-01" in listed and "daily_performance_2025-11-02" in listed

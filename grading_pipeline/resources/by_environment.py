"""The resources of each environment, chosen in one place by GRADING_ENV."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dagster import EnvVar

from grading_pipeline import settings
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.warehouse.duckdb_warehouse import DuckDBWarehouse

if TYPE_CHECKING:
    from grading_pipeline.warehouse.bigquery_warehouse import BigQueryWarehouse


def partition_lock_resource() -> PartitionLockResource:
    # Every field from the environment (grading_pipeline.settings), read when the lock is built, so
    # that a run config giving one field keeps the others.
    return PartitionLockResource()


def bigquery_warehouse() -> "BigQueryWarehouse":
    # Imported here: google-cloud-bigquery, dagster-gcp and pandas cost ~1.5 s of start-up that
    # local mode never needs.
    from grading_pipeline.warehouse.bigquery_warehouse import BigQueryWarehouse

    project = os.environ.get("GRADING_BQ_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT")
    if not project:
        raise ValueError("GRADING_ENV=prod needs GRADING_BQ_PROJECT (or GOOGLE_CLOUD_PROJECT)")
    return BigQueryWarehouse(
        project=project,
        location=os.environ.get("GRADING_BQ_LOCATION") or None,
        # A base64 service-account key; without it, Application Default Credentials.
        gcp_credentials=EnvVar("GRADING_GCP_CREDENTIALS") if os.environ.get("GRADING_GCP_CREDENTIALS") else None,
        dataset_prefix=os.environ.get("GRADING_BQ_DATASET_PREFIX", ""),
        api_endpoint=os.environ.get("GRADING_BQ_API_ENDPOINT") or None,  # a local emulator only
    )


def build_resources() -> dict[str, Any]:
    """local: DuckDB + the SQLite lock; prod: BigQuery + the Firestore lock (GRADING_LOCK_BACKEND
    defaults to firestore there)."""
    warehouse = bigquery_warehouse() if settings.grading_env() == "prod" else DuckDBWarehouse(database=settings.duckdb_path())
    return {"warehouse": warehouse, "partition_lock": partition_lock_resource()}

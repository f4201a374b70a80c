"""The resources of each environment, chosen in one place by GRADING_ENV."""

from __future__ import annotations

import os
from typing import Any

from grading_pipeline import settings
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.warehouse.duckdb_warehouse import DuckDBWarehouse


def partition_lock_resource() -> PartitionLockResource:
    return PartitionLockResource(
        backend=settings.lock_backend(),
        sqlite_path=settings.lock_path(),
        firestore_project=os.environ.get("GRADING_FIRESTORE_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT"),
        firestore_database=os.environ.get("GRADING_FIRESTORE_DATABASE"),
        enabled=settings.use_lock(),
        proceed_when_unavailable=settings.proceed_when_lock_unavailable(),
    )


def build_resources() -> dict[str, Any]:
    env = settings.grading_env()
    if env == "prod":
        raise NotImplementedError(
            "GRADING_ENV=prod needs the BigQuery warehouse, which has not landed yet; use GRADING_ENV=local."
        )
    return {
        "warehouse": DuckDBWarehouse(database=settings.duckdb_path()),
        "partition_lock": partition_lock_resource(),
    }

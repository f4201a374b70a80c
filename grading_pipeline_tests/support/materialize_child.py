"""A real OS process that materializes dates through Dagster on a shared warehouse file.

Used by the process tests: `python -m grading_pipeline_tests.support.materialize_child DB LOCKS DATE
[--times N] [--start-at EPOCH] [--crash-before-commit] [--no-lock]`. Prints one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("database")
    parser.add_argument("lock_path")
    parser.add_argument("date", help="YYYY-MM-DD, or FIRST..LAST for a single-run range backfill")
    parser.add_argument("--times", type=int, default=1)
    parser.add_argument("--start-at", type=float, default=0.0, help="wall-clock instant to start at")
    parser.add_argument("--crash-before-commit", action="store_true")
    parser.add_argument("--no-lock", action="store_true")
    args = parser.parse_args()

    from dagster import DagsterInstance, materialize

    from grading_pipeline.assets import grade_game_dates
    from grading_pipeline.resources.partition_lock import PartitionLockResource
    from grading_pipeline.warehouse import DuckDBWarehouse
    from grading_pipeline.warehouse.duckdb_warehouse import DuckDBSession

    if args.crash_before_commit:
        # Stop inside the write's transaction, after DELETE and INSERT ran, so that the parent can
        # SIGKILL this process with the new rows uncommitted.
        def announce_and_hang(self):
            print("BEFORE_COMMIT", flush=True)
            time.sleep(600)

        DuckDBSession._commit = announce_and_hang

    resources = {
        "warehouse": DuckDBWarehouse(database=args.database),
        "partition_lock": PartitionLockResource(
            backend="sqlite", sqlite_path=args.lock_path, enabled=not args.no_lock,
            max_wait_seconds=120.0, poll_interval_seconds=0.02, lease_seconds=60.0,
        ),
    }
    instance = DagsterInstance.ephemeral()
    if args.start_at:
        time.sleep(max(0.0, args.start_at - time.time()))
    if ".." in args.date:
        first, last = args.date.split("..")
        selection = {"tags": {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}}
    else:
        selection = {"partition_key": args.date}
    for _ in range(args.times):
        result = materialize(
            [grade_game_dates], resources=resources, instance=instance,
            raise_on_error=False, **selection,
        )
        metadata = {}
        for m in result.get_asset_materialization_events():
            if m.asset_key.path[-1] == "prediction_accuracy" and not metadata:
                metadata = {k: v.value for k, v in m.materialization.metadata.items()}
        print(json.dumps({"pid": os.getpid(), "success": result.success, "metadata": metadata}, default=str), flush=True)
        if not result.success:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real OS process that re-grades one date on the BigQuery warehouse (no lock), for the
concurrency test: `python -m grading_pipeline_tests.bigquery._replace_child ENDPOINT PROJECT PREFIX
DATE --times N --start-at EPOCH`. Prints one JSON line per write."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("endpoint")
    parser.add_argument("project")
    parser.add_argument("prefix")
    parser.add_argument("date")
    parser.add_argument("--times", type=int, default=1)
    parser.add_argument("--start-at", type=float, default=0.0)
    args = parser.parse_args()

    from grading_pipeline.grading import GradingPolicy, publish_dates
    from grading_pipeline.tables import PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE
    from grading_pipeline.warehouse.bigquery_warehouse import BigQueryWarehouse

    warehouse = BigQueryWarehouse(
        project=args.project, dataset_prefix=args.prefix, api_endpoint=args.endpoint,
        retry_initial_seconds=0.2, api_deadline_seconds=30.0, job_timeout_seconds=120.0,
    )
    day = dt.date.fromisoformat(args.date)
    ACCURACY, PERFORMANCE = PREDICTION_ACCURACY.name, SYSTEM_DAILY_PERFORMANCE.name
    with warehouse.session() as session:
        session.query("reports/graded_dates.sql", {"start_date": day, "end_date": day})  # warm up
        time.sleep(max(0.0, args.start_at - time.time()))
        for _ in range(args.times):
            published = publish_dates(session, day, day, policy=GradingPolicy()).publication
            print(json.dumps({
                "pid": os.getpid(),
                "committed": published.committed,
                "rows_written": published.rows_written[ACCURACY],
                "rows_replaced": published.rows_replaced[ACCURACY].get(day, 0),
                "performance_rows": published.rows_written[PERFORMANCE],
            }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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

    from grading_pipeline.grading import GradingPolicy, aggregate_dates, grade_dates
    from grading_pipeline.warehouse.bigquery_warehouse import BigQueryWarehouse

    warehouse = BigQueryWarehouse(
        project=args.project, dataset_prefix=args.prefix, api_endpoint=args.endpoint,
        retry_initial_seconds=0.2, api_deadline_seconds=30.0, job_timeout_seconds=120.0,
    )
    day = dt.date.fromisoformat(args.date)
    with warehouse.session() as session:
        session.query("reports/graded_dates.sql", {"start_date": day, "end_date": day})  # warm up
        time.sleep(max(0.0, args.start_at - time.time()))
        for _ in range(args.times):
            _, graded = grade_dates(session, day, day, GradingPolicy())
            performance = aggregate_dates(session, day, day)
            print(json.dumps({
                "pid": os.getpid(),
                "rows_written": graded.rows_written,
                "rows_replaced": graded.rows_replaced.get(day, 0),
                "performance_rows": performance.rows_written,
            }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

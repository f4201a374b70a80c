"""`nba_predictions.system_daily_performance`: one row per (game_date, system_id)."""

import datetime as dt
import time
from collections.abc import Sequence

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, Config, MaterializeResult, asset
from pydantic import Field

from grading_pipeline.assets.partition_runs import (
    DEFAULT_DATES_PER_TRANSACTION,
    DateMetadata,
    materialize_result,
    run_dates,
    sum_of,
    write_batches,
    write_metadata,
)
from grading_pipeline.grading import PERFORMANCE_TABLE, aggregate_dates
from grading_pipeline.partitions import game_date_partitions
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.warehouse.base import Fence, Warehouse, WarehouseSession

LOCK_TYPE = "daily_performance"


class PerformanceConfig(Config):
    dates_per_transaction: int = Field(
        default=DEFAULT_DATES_PER_TRANSACTION,
        description="In a range run, how many consecutive dates are locked and replaced per transaction (1: each date on its own).",
    )


@asset(
    key_prefix=["nba_predictions"],
    deps=[AssetKey(["nba_predictions", "prediction_accuracy"])],
    partitions_def=game_date_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="grading",
    tags={"domain": "grading"},
)
def system_daily_performance(
    context: AssetExecutionContext,
    config: PerformanceConfig,
    warehouse: Warehouse,
    partition_lock: PartitionLockResource,
) -> MaterializeResult:
    """Per-system daily accuracy from `prediction_accuracy`: counts, win rates, MAE, bias, within-3/5,
    over/under and high-confidence (>= 0.70) splits.

    Voided predictions (did not play) and pushes are neither wins nor losses: every win rate divides
    correct by decided predictions (OVER/UNDER with a result), and MAE and bias cover played games
    only. Each date is replaced atomically under its `daily_performance` lock, fenced.
    """
    started = time.perf_counter()

    def aggregate(session: WarehouseSession, first: dt.date, last: dt.date, fences: Sequence[Fence]) -> dict[dt.date, DateMetadata]:
        write = aggregate_dates(session, first, last, fences)
        return {
            first + dt.timedelta(days=i): {"systems": 0, **write_metadata(write, first + dt.timedelta(days=i))}
            for i in range((last - first).days + 1)
        }

    per_date = write_batches(
        context, partition_lock, warehouse, PERFORMANCE_TABLE, LOCK_TYPE, run_dates(context),
        config.dates_per_transaction, aggregate,
    )
    return materialize_result(per_date, _totals, started)


def _totals(rows: list[DateMetadata]) -> DateMetadata:
    return {name: sum_of(rows, name) for name in ("systems", "rows_replaced", "predictions")}

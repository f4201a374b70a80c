"""`nba_predictions.system_daily_performance`: one row per (game_date, system_id)."""


import datetime as dt

from dagster import AssetExecutionContext, AssetKey, BackfillPolicy, MaterializeResult, asset

from grading_pipeline.assets.partition_runs import (
    DateMetadata,
    locked_partition,
    materialize_dates,
    run_dates,
    write_metadata,
)
from grading_pipeline.grading import PERFORMANCE_TABLE, aggregate_date
from grading_pipeline.partitions import game_date_partitions
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.warehouse.base import Warehouse, WarehouseSession

LOCK_TYPE = "daily_performance"


@asset(
    key_prefix=["nba_predictions"],
    deps=[AssetKey(["nba_predictions", "prediction_accuracy"])],
    partitions_def=game_date_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="grading",
    kinds={"sql"},
    tags={"domain": "grading"},
)
def system_daily_performance(
    context: AssetExecutionContext,
    warehouse: Warehouse,
    partition_lock: PartitionLockResource,
) -> MaterializeResult:
    """Per-system daily accuracy from `prediction_accuracy`: counts, win rates, MAE, bias, within-3/5,
    over/under and high-confidence (>= 0.70) splits.

    Voided predictions (did not play) and pushes are neither wins nor losses: every win rate divides
    correct by decided predictions (OVER/UNDER with a result), and MAE and bias cover played games
    only. Each date is replaced atomically under the `daily_performance` lock.
    """

    def aggregate_one(session: WarehouseSession, game_date: dt.date) -> DateMetadata:
        with locked_partition(context, partition_lock, session, PERFORMANCE_TABLE, LOCK_TYPE, game_date) as (fence, lock_metadata):
            write = aggregate_date(session, game_date, fence)
        return {**write_metadata(write), **lock_metadata}

    with warehouse.session() as session:
        return materialize_dates(context, session, run_dates(context), aggregate_one, _totals)


def _totals(per_date: list[DateMetadata]) -> DateMetadata:
    return {name: sum(m.get(name) or 0 for m in per_date) for name in ("rows_written", "rows_replaced", "predictions")}

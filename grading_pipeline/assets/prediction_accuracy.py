"""`nba_predictions.prediction_accuracy`: every prediction of a game date, graded."""

import datetime as dt
import time
from collections.abc import Sequence

from dagster import AssetExecutionContext, BackfillPolicy, Config, MaterializeResult, asset
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
from grading_pipeline.grading import ACCURACY_TABLE, GradingPolicy, grade_dates
from grading_pipeline.partitions import game_date_partitions
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.warehouse.base import Fence, Warehouse, WarehouseSession

LOCK_TYPE = "grading"


class GradingConfig(Config):
    min_actuals_coverage: float = Field(
        default=GradingPolicy.min_actuals_coverage,
        description="Minimum share of graded predictions with a box-score row; below it the date fails as 'actuals not loaded'.",
    )
    allow_games_without_actuals: bool = Field(
        default=GradingPolicy.allow_games_without_actuals,
        description="Grade (and void) predictions of games that have no box score at all.",
    )
    dates_per_transaction: int = Field(
        default=DEFAULT_DATES_PER_TRANSACTION,
        description="In a range run, how many consecutive dates are locked and replaced per transaction (1: each date on its own).",
    )


@asset(
    key_prefix=["nba_predictions"],
    partitions_def=game_date_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="grading",
    tags={"domain": "grading"},
)
def prediction_accuracy(
    context: AssetExecutionContext,
    config: GradingConfig,
    warehouse: Warehouse,
    partition_lock: PartitionLockResource,
) -> MaterializeResult:
    """Every eligible prediction of a game date graded against the box score, one row per business
    key (player_lookup, game_id, system_id, line_value).

    Each date is replaced atomically under its `grading` lock, fenced. Excluded: invalidated
    predictions and the 20.0 placeholder line. When a key has several source rows, the earliest
    `created_at` is graded (a post-game re-run never replaces the pre-game prediction). Players who
    did not play are voided with a void_reason; pushes and voids have `prediction_correct` NULL. A
    date whose box scores have not arrived fails ("actuals not loaded") instead of voiding the day.
    """
    started = time.perf_counter()
    policy = GradingPolicy(config.min_actuals_coverage, config.allow_games_without_actuals)

    def grade(session: WarehouseSession, first: dt.date, last: dt.date, fences: Sequence[Fence]) -> dict[dt.date, DateMetadata]:
        health, write = grade_dates(session, first, last, policy, fences)
        per_date = {}
        for offset in range((last - first).days + 1):
            game_date = first + dt.timedelta(days=offset)
            source = health.get(game_date, {})
            metadata = {"rows_graded": 0, **write_metadata(write, game_date)}
            metadata["source_predictions"] = source.get("source_predictions", 0)
            metadata["duplicate_source_rows"] = source.get("eligible_predictions", 0) - source.get("eligible_keys", 0)
            if "actuals_coverage" in source:
                metadata["actuals_coverage"] = source["actuals_coverage"]
            if not metadata["rows_graded"]:
                context.log.info(f"{game_date}: no games, nothing to grade (0 rows)")
            per_date[game_date] = metadata
        return per_date

    per_date = write_batches(
        context, partition_lock, warehouse, ACCURACY_TABLE, LOCK_TYPE, run_dates(context),
        config.dates_per_transaction, grade,
    )
    return materialize_result(per_date, _totals, started)


def _totals(rows: list[DateMetadata]) -> DateMetadata:
    decided = sum_of(rows, "correct") + sum_of(rows, "incorrect")
    totals = {name: sum_of(rows, name) for name in ("rows_graded", "voided", "pushes", "rows_replaced")}
    if decided:
        totals["win_rate"] = round(sum_of(rows, "correct") / decided, 4)
    totals["lock_wait_seconds"] = round(sum_of(rows, "lock_wait_seconds"), 4)
    return totals

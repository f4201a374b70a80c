"""`nba_predictions.prediction_accuracy`: every prediction of a game date, graded."""


import datetime as dt

from dagster import AssetExecutionContext, BackfillPolicy, Config, MaterializeResult, asset
from pydantic import Field

from grading_pipeline.assets.partition_runs import (
    DateMetadata,
    locked_partition,
    materialize_dates,
    run_dates,
    write_metadata,
)
from grading_pipeline.grading import ACCURACY_TABLE, GradingPolicy, grade_date
from grading_pipeline.partitions import game_date_partitions
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.warehouse.base import Warehouse, WarehouseSession

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


@asset(
    key_prefix=["nba_predictions"],
    partitions_def=game_date_partitions,
    backfill_policy=BackfillPolicy.single_run(),
    group_name="grading",
    kinds={"sql"},
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

    Each date is replaced atomically under the `grading` lock. Excluded: invalidated predictions and
    the 20.0 placeholder line. When a key has several source rows, the earliest `created_at` is
    graded (a post-game re-run never replaces the pre-game prediction). Players who did not play
    are voided with a void_reason; pushes and voids have `prediction_correct` NULL. A date whose
    box scores have not arrived fails ("actuals not loaded") instead of voiding the day.
    """
    policy = GradingPolicy(config.min_actuals_coverage, config.allow_games_without_actuals)

    def grade_one(session: WarehouseSession, game_date: dt.date) -> DateMetadata:
        with locked_partition(context, partition_lock, session, ACCURACY_TABLE, LOCK_TYPE, game_date) as (fence, lock_metadata):
            health, write = grade_date(session, game_date, policy, fence)
        if write.rows_written == 0:
            context.log.info(f"{game_date}: no games, nothing to grade (0 rows)")
        return {
            **write_metadata(write),
            "source_predictions": health["source_predictions"],
            "eligible_predictions": health["eligible_predictions"],
            "duplicate_source_rows": health["eligible_predictions"] - health["eligible_keys"],
            **({"actuals_coverage": health["actuals_coverage"]} if "actuals_coverage" in health else {}),
            **lock_metadata,
        }

    with warehouse.session() as session:
        return materialize_dates(context, session, run_dates(context), grade_one, _totals)


def _totals(per_date: list[DateMetadata]) -> DateMetadata:
    def total(name: str) -> float:
        return sum(m.get(name) or 0 for m in per_date)

    decided = total("correct") + total("incorrect")
    return {
        "rows_graded": total("rows_graded"),
        "voided": total("voided"),
        "pushes": total("pushes"),
        "rows_replaced": total("rows_replaced"),
        **({"win_rate": round(total("correct") / decided, 4)} if decided else {}),
        "lock_wait_seconds": round(total("lock_wait_seconds"), 4),
    }

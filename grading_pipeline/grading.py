"""Grading one game date: check the inputs, then replace the date's rows in one atomic write.

Engine-agnostic (works through the warehouse seam) and Dagster-agnostic (the assets call it), so
the same function serves a single-date run, a range backfill, the CLI and the benchmark.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from grading_pipeline.errors import (
    ActualsNotLoadedError,
    BadInputError,
    InvalidPartitionKeyError,
    MissingPredictionsError,
    MissingTableError,
)
from grading_pipeline.warehouse.base import Fence, PartitionWrite, WarehouseSession

PREDICTIONS_TABLE = "nba_predictions.player_prop_predictions"
ACTUALS_TABLE = "nba_analytics.player_game_summary"
ACCURACY_TABLE = "nba_predictions.prediction_accuracy"
PERFORMANCE_TABLE = "nba_predictions.system_daily_performance"


@dataclass(frozen=True)
class GradingPolicy:
    """When a date's inputs are complete enough to grade."""

    # Share of graded business keys whose player has a box-score row; below it the actuals are
    # taken as not (fully) loaded and the date fails instead of voiding predictions wholesale.
    min_actuals_coverage: float = 0.9
    # A predicted game with no box-score row at all is a late load, not a night of DNPs.
    allow_games_without_actuals: bool = False


def parse_game_date(partition_key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(partition_key)
    except (TypeError, ValueError) as error:
        raise InvalidPartitionKeyError(
            f"Partition key {partition_key!r} is not a date (expected YYYY-MM-DD)."
        ) from error


def check_inputs(session: WarehouseSession, game_date: dt.date, policy: GradingPolicy) -> dict[str, Any]:
    """Raise a clear error when the date cannot be graded; otherwise return the source figures."""
    missing = session.missing_tables([PREDICTIONS_TABLE, ACTUALS_TABLE])
    if missing:
        raise MissingTableError(
            f"Input table(s) {', '.join(missing)} do not exist in the warehouse; load them first "
            "(locally: `grading-pipeline sample-data`)."
        )
    (health,) = session.query("grading/source_health.sql", {"game_date": game_date})
    if health["null_key_predictions"]:
        raise BadInputError(
            f"{game_date}: {health['null_key_predictions']} active prediction(s) have a NULL "
            "player_lookup, game_id or system_id and cannot be graded. Fix them at the source or "
            "invalidate them (is_active = FALSE); nothing was written."
        )
    if health["conflicting_actuals"]:
        raise BadInputError(
            f"{game_date}: {health['conflicting_actuals']} (player_lookup, game_id) pair(s) have "
            "conflicting rows in nba_analytics.player_game_summary; refusing to pick one silently."
        )
    if health["eligible_predictions"] == 0:
        if health["actual_players"]:
            raise MissingPredictionsError(
                f"{game_date}: box scores exist for {health['actual_players']} player(s) but there "
                "are no gradable predictions. Was the prediction step skipped?"
            )
        return health
    if health["actual_players"] == 0:
        raise ActualsNotLoadedError(
            f"{game_date}: actuals not loaded: {health['eligible_predictions']} predictions over "
            f"{health['games_with_predictions']} game(s), but no box scores for the date."
        )
    missing_games = health["games_with_predictions"] - health["games_with_actuals"]
    if missing_games and not policy.allow_games_without_actuals:
        raise ActualsNotLoadedError(
            f"{game_date}: actuals not loaded for {missing_games} of "
            f"{health['games_with_predictions']} predicted game(s). Retry once they arrive, or "
            "set allow_games_without_actuals to void them."
        )
    coverage = health["keys_with_actuals"] / health["eligible_keys"]
    if coverage < policy.min_actuals_coverage:
        raise ActualsNotLoadedError(
            f"{game_date}: actuals not loaded: only {coverage:.1%} of graded predictions have a "
            f"box-score row (minimum {policy.min_actuals_coverage:.0%})."
        )
    return {**health, "actuals_coverage": round(coverage, 4)}


def grade_date(
    session: WarehouseSession, game_date: dt.date, policy: GradingPolicy, fence: Fence | None = None
) -> tuple[dict[str, Any], PartitionWrite]:
    """Check the inputs and replace `prediction_accuracy` for the date; returns (inputs, write)."""
    health = check_inputs(session, game_date, policy)
    write = session.replace_partition(
        ACCURACY_TABLE,
        game_date,
        "grading/grade_predictions.sql",
        summary_sql="grading/partition_summary.sql",
        fence=fence,
    )
    return health, write


def aggregate_date(session: WarehouseSession, game_date: dt.date, fence: Fence | None = None) -> PartitionWrite:
    """Replace `system_daily_performance` for the date from its graded predictions."""
    return session.replace_partition(
        PERFORMANCE_TABLE,
        game_date,
        "performance/system_daily_performance.sql",
        summary_sql="performance/partition_summary.sql",
        fence=fence,
    )

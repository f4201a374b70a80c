"""Grading game dates: check the inputs, then replace the dates' rows in one atomic write.

Engine-agnostic (works through the warehouse seam) and Dagster-agnostic (the assets call it), so
the same function serves a single-date run, a range backfill, the CLI and the benchmark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from grading_pipeline.errors import (
    ActualsNotLoadedError,
    BadInputError,
    GradingError,
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
    min_actuals_coverage: float = 0.8
    # A predicted game with no box-score row at all is a late load, not a night of DNPs.
    allow_games_without_actuals: bool = False


def parse_game_date(partition_key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(partition_key)
    except (TypeError, ValueError) as error:
        raise InvalidPartitionKeyError(
            f"Partition key {partition_key!r} is not a date (expected YYYY-MM-DD)."
        ) from error


def check_inputs(
    session: WarehouseSession, start_date: dt.date, end_date: dt.date, policy: GradingPolicy
) -> dict[dt.date, dict[str, Any]]:
    """The source figures of each date in [start_date, end_date] that has any input; raises a
    clear error naming every date that cannot be graded."""
    missing = session.missing_tables([PREDICTIONS_TABLE, ACTUALS_TABLE])
    if missing:
        raise MissingTableError(
            f"Input table(s) {', '.join(missing)} do not exist in the warehouse; load them first "
            "(locally: `grading-pipeline sample-data`)."
        )
    rows = session.query("grading/source_health.sql", {"start_date": start_date, "end_date": end_date})
    health = {row["game_date"]: row for row in rows}
    problems = [p for p in (_problem(day, h, policy) for day, h in sorted(health.items())) if p]
    if problems:
        error_class = type(problems[0])
        if len(problems) == 1:
            raise problems[0]
        raise error_class(f"{len(problems)} dates cannot be graded:\n" + "\n".join(str(p) for p in problems))
    for h in health.values():
        if h["eligible_keys"]:
            h["actuals_coverage"] = round(h["keys_with_actuals"] / h["eligible_keys"], 4)
    return health


def _problem(game_date: dt.date, health: dict[str, Any], policy: GradingPolicy) -> GradingError | None:
    if health["null_key_predictions"]:
        return BadInputError(
            f"{game_date}: {health['null_key_predictions']} active prediction(s) have a NULL "
            "player_lookup, game_id or system_id and cannot be graded. Fix them at the source or "
            "invalidate them (is_active = FALSE); nothing was written."
        )
    if health["conflicting_actuals"]:
        return BadInputError(
            f"{game_date}: {health['conflicting_actuals']} (player_lookup, game_id) pair(s) have "
            "conflicting rows in nba_analytics.player_game_summary; refusing to pick one silently."
        )
    if health["eligible_predictions"] == 0:
        if health["actual_players"]:
            return MissingPredictionsError(
                f"{game_date}: box scores exist for {health['actual_players']} player(s) but there "
                "are no gradable predictions. Was the prediction step skipped?"
            )
        return None
    if health["actual_players"] == 0:
        return ActualsNotLoadedError(
            f"{game_date}: actuals not loaded: {health['eligible_predictions']} predictions over "
            f"{health['games_with_predictions']} game(s), but no box scores for the date."
        )
    missing_games = health["games_with_predictions"] - health["games_with_actuals"]
    if missing_games and not policy.allow_games_without_actuals:
        return ActualsNotLoadedError(
            f"{game_date}: actuals not loaded for {missing_games} of "
            f"{health['games_with_predictions']} predicted game(s). Retry once they arrive, or "
            "set allow_games_without_actuals to void them."
        )
    coverage = health["keys_with_actuals"] / health["eligible_keys"]
    if coverage < policy.min_actuals_coverage:
        return ActualsNotLoadedError(
            f"{game_date}: actuals not loaded: only {coverage:.1%} of graded predictions have a "
            f"box-score row (minimum {policy.min_actuals_coverage:.0%})."
        )
    return None


def grade_dates(
    session: WarehouseSession,
    start_date: dt.date,
    end_date: dt.date,
    policy: GradingPolicy,
    fences: Sequence[Fence] = (),
) -> tuple[dict[dt.date, dict[str, Any]], PartitionWrite]:
    """Check the inputs, then replace `prediction_accuracy` for the dates in one atomic write."""
    health = check_inputs(session, start_date, end_date, policy)
    write = session.replace_partitions(
        ACCURACY_TABLE, start_date, end_date, "grading/grade_predictions.sql",
        summary_sql="grading/partition_summary.sql", fences=fences,
    )
    return health, write


def aggregate_dates(
    session: WarehouseSession, start_date: dt.date, end_date: dt.date, fences: Sequence[Fence] = ()
) -> PartitionWrite:
    """Replace `system_daily_performance` for the dates from their graded predictions."""
    return session.replace_partitions(
        PERFORMANCE_TABLE, start_date, end_date, "performance/system_daily_performance.sql",
        summary_sql="performance/partition_summary.sql", fences=fences,
    )

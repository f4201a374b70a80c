"""The tables the project reads and writes, and for each graded table its asset and its lock."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey

PREDICTIONS_TABLE = "nba_predictions.player_prop_predictions"
ACTUALS_TABLE = "nba_analytics.player_game_summary"
FENCE_TABLE = "nba_predictions.partition_write_fences"


@dataclass(frozen=True)
class InputTable:
    """An input the grading reads: an observed source asset, fingerprinted per game date."""

    name: str  # logical `dataset.table`
    fingerprint_sql: str  # per date with rows: its version (sql/observations/)
    description: str

    @property
    def asset_key(self) -> AssetKey:
        return AssetKey(self.name.split("."))


PREDICTIONS = InputTable(
    PREDICTIONS_TABLE, "observations/prediction_fingerprints.sql",
    "The predictions the systems made, loaded by the prediction platform (several per player per game).",
)
ACTUALS = InputTable(
    ACTUALS_TABLE, "observations/actuals_fingerprints.sql",
    "The box scores, one row per player per game, loaded after the games (and corrected by the NBA days later).",
)
INPUT_TABLES = (PREDICTIONS, ACTUALS)


@dataclass(frozen=True)
class GradedTable:
    """An output table: one daily-partitioned asset, written under its own lease lock per date."""

    name: str  # logical `dataset.table`
    lock_type: str  # the partition lock's type (Firestore collection `{lock_type}_locks`)
    select_sql: str  # the rows of a date range, from its inputs (sql/)
    summary_sql: str  # the per-date figures read back inside the write's transaction (metadata)

    @property
    def asset_key(self) -> AssetKey:
        return AssetKey(self.name.split("."))


PREDICTION_ACCURACY = GradedTable(
    "nba_predictions.prediction_accuracy", "grading",
    "grading/grade_predictions.sql", "grading/partition_summary.sql",
)
SYSTEM_DAILY_PERFORMANCE = GradedTable(
    "nba_predictions.system_daily_performance", "daily_performance",
    "performance/system_daily_performance.sql", "performance/partition_summary.sql",
)
SYSTEM_SCORECARD = GradedTable(
    "nba_predictions.system_scorecard", "scorecard",
    "scorecard/system_scorecard.sql", "scorecard/partition_summary.sql",
)
# How many later dates a date's grades reach into: the longest window of
# sql/scorecard/system_scorecard.sql (30 days) ends up to 29 days after it.
SCORECARD_REACH_DAYS = 29
# Standard -110 pricing: a pick must win 110 / 210 of the time to break even (the scorecard SQL's).
BREAK_EVEN_WIN_RATE = round(110 / 210, 4)
# prediction_accuracy's columns that say who wrote a row (sql/macros/write_provenance.sql): they
# differ between two writes of the same grades.
WRITE_STAMP_COLUMNS = ("graded_by_run", "fencing_token")
# In dependency order: a date's performance and scorecard are computed from its graded rows.
GRADED_TABLES = (PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE, SYSTEM_SCORECARD)

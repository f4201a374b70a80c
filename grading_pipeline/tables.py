"""The tables the project reads and writes, and for each graded table its asset and its lock."""

from __future__ import annotations

from dataclasses import dataclass

from dagster import AssetKey

PREDICTIONS_TABLE = "nba_predictions.player_prop_predictions"
ACTUALS_TABLE = "nba_analytics.player_game_summary"
FENCE_TABLE = "nba_predictions.partition_write_fences"


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
# In dependency order: a date's performance is aggregated from its graded rows.
GRADED_TABLES = (PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE)

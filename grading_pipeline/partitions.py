"""The daily game-date partitions (UTC), starting at the configured season start."""

import os

from dagster import DailyPartitionsDefinition

# The first date that can be graded; GRADING_SEASON_START moves it (e.g. for a historical backfill).
DEFAULT_SEASON_START = "2025-10-21"
SEASON_START = os.environ.get("GRADING_SEASON_START", DEFAULT_SEASON_START)

game_date_partitions = DailyPartitionsDefinition(start_date=SEASON_START, timezone="UTC")

"""The daily game-date partitions (UTC), from GRADING_SEASON_START to yesterday."""

from dagster import DailyPartitionsDefinition

from grading_pipeline import settings

game_date_partitions = DailyPartitionsDefinition(start_date=settings.season_start().isoformat(), timezone="UTC")

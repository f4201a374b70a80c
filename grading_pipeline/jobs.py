"""The daily grading job: both assets for one game date (or a range, in one run)."""

from dagster import AssetSelection, define_asset_job

from grading_pipeline.partitions import game_date_partitions

grade_game_date_job = define_asset_job(
    name="grade_game_date",
    selection=AssetSelection.groups("grading"),
    partitions_def=game_date_partitions,
    description="Grade a game date into prediction_accuracy, then aggregate system_daily_performance.",
)

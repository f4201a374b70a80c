"""Jobs: the daily grading of a game date (both graded tables and their checks, one step), and the
duplicate sweep."""

from dagster import AssetSelection, define_asset_job

from grading_pipeline.checks import no_duplicates_in_recent_days
from grading_pipeline.partitions import game_date_partitions

grade_game_date_job = define_asset_job(
    name="grade_game_date",
    # The sweep looks at the last days whatever the partition: it has its own job and schedule.
    selection=AssetSelection.groups("grading") - AssetSelection.checks(no_duplicates_in_recent_days),
    partitions_def=game_date_partitions,
    description="Grade a game date into prediction_accuracy, aggregate system_daily_performance, audit both "
    "before COMMIT: one step, one transaction.",
)

duplicate_sweep_job = define_asset_job(
    name="duplicate_sweep",
    selection=AssetSelection.checks(no_duplicates_in_recent_days),
    description="The daily sweep: no duplicate business key in prediction_accuracy over the last days.",
)

observe_inputs_job = define_asset_job(
    name="observe_inputs",
    selection=AssetSelection.groups("inputs", include_sources=True),
    description="Fingerprint the recent game dates of both inputs (predictions, box scores): each date's data version.",
)

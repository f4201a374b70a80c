"""The code location: assets, job, schedule and the resources of the current GRADING_ENV."""

from dagster import Definitions

from grading_pipeline.assets import prediction_accuracy, system_daily_performance
from grading_pipeline.jobs import grade_game_date_job
from grading_pipeline.resources.by_environment import build_resources
from grading_pipeline.schedules import daily_grading_schedule

defs = Definitions(
    assets=[prediction_accuracy, system_daily_performance],
    jobs=[grade_game_date_job],
    schedules=[daily_grading_schedule],
    resources=build_resources(),
)

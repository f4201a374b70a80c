"""Every morning at 11:00 UTC (6 AM ET), grade the previous game date."""

from dagster import build_schedule_from_partitioned_job

from grading_pipeline.jobs import grade_game_date_job

daily_grading_schedule = build_schedule_from_partitioned_job(
    grade_game_date_job,
    name="daily_grading_schedule",
    hour_of_day=11,
    minute_of_hour=0,
)

"""Every morning at 11:00 UTC (6 AM ET), grade the previous game date; at 12:00 UTC, sweep the
last week for duplicates."""

from dagster import DefaultScheduleStatus, ScheduleDefinition, build_schedule_from_partitioned_job

from grading_pipeline.jobs import duplicate_sweep_job, grade_game_date_job

daily_grading_schedule = build_schedule_from_partitioned_job(
    grade_game_date_job,
    name="daily_grading_schedule",
    hour_of_day=11,
    minute_of_hour=0,
    default_status=DefaultScheduleStatus.RUNNING,
)

daily_duplicate_sweep_schedule = ScheduleDefinition(
    name="daily_duplicate_sweep_schedule",
    job=duplicate_sweep_job,
    cron_schedule="0 12 * * *",
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
)

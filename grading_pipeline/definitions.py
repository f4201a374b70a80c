"""The code location: assets, checks, jobs, schedules, Slack sensors and the resources of the current
GRADING_ENV."""

import gc

from dagster import Definitions, in_process_executor

from grading_pipeline.alerts import slack_alerts_from_env
from grading_pipeline.assets import grade_game_dates, observed_inputs
from grading_pipeline.automation import grade_when_inputs_ready
from grading_pipeline.checks import no_duplicates_in_recent_days
from grading_pipeline.cleanup import cleanup_duplicates
from grading_pipeline.jobs import duplicate_sweep_job, grade_game_date_job, observe_inputs_job
from grading_pipeline.resources.by_environment import build_resources
from grading_pipeline.schedules import daily_duplicate_sweep_schedule, daily_grading_schedule
from grading_pipeline.freshness import freshness_sensor
from grading_pipeline.sensors import all_sensors


def build_definitions() -> Definitions:
    """Everything, with resources read from the environment now (the CLI builds its own)."""
    return Definitions(
        assets=[*observed_inputs, grade_game_dates],
        asset_checks=[no_duplicates_in_recent_days],
        jobs=[grade_game_date_job, duplicate_sweep_job, observe_inputs_job, cleanup_duplicates],
        schedules=[daily_grading_schedule, daily_duplicate_sweep_schedule],
        sensors=[*all_sensors, grade_when_inputs_ready, freshness_sensor],
        resources={**build_resources(), "slack_alerts": slack_alerts_from_env()},
        # Every run (UI backfills, schedule ticks, `dagster asset materialize`) executes its steps in
        # the run's own process: a step is seconds of SQL, a process per step cost ~4 s each.
        executor=in_process_executor,
    )


defs = build_definitions()

# Loaded: every run process (a CLI materialize, a run the UI or a schedule launches) has now made
# what its imports make, Dagster's ~2,000 modules, and keeps it until it exits. Frozen, the cyclic
# garbage collector stops walking it in each full collection of the run and once more at exit:
# ~0.5 s of a one-date launched run (`make bench`). What the run itself allocates is collected as
# before; garbage already made by the imports stays until exit.
gc.freeze()

"""The code location loads, validates, and schedules the previous day at 11:00 UTC."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from dagster import build_schedule_context

ROOT = Path(__file__).resolve().parent.parent


def test_definitions_load_with_both_assets_the_job_and_the_schedule():
    from grading_pipeline.definitions import defs

    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"nba_predictions/prediction_accuracy", "nba_predictions/system_daily_performance"} <= keys
    job = defs.resolve_job_def("grade_game_date")
    assert job.partitions_def is not None
    schedule = defs.resolve_schedule_def("daily_grading_schedule")
    assert schedule.cron_schedule == "0 11 * * *" and schedule.execution_timezone in (None, "UTC")


def test_the_schedule_requests_the_previous_day():
    from grading_pipeline.definitions import defs

    schedule = defs.resolve_schedule_def("daily_grading_schedule")
    tick = dt.datetime(2026, 1, 18, 11, 0, tzinfo=dt.timezone.utc)
    with build_schedule_context(scheduled_execution_time=tick) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-01-17"


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "GRADING_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "GRADING_LOCK_PATH": str(tmp_path / "l.sqlite")}
    env.pop("DAGSTER_HOME", None)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m", "grading_pipeline.definitions"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


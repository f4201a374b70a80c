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



HEAVY_MODULES = ("google.cloud.bigquery", "dagster_gcp", "pandas", "google.cloud.firestore", "slack_sdk")


def imported_after_loading_the_code_location(env_overrides: dict[str, str]) -> set[str]:
    """Which HEAVY_MODULES a fresh interpreter has imported once the code location is loaded."""
    env = {**os.environ, **env_overrides}
    probe = (
        "import sys, grading_pipeline.definitions\n"
        f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", probe], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def test_local_mode_loads_no_cloud_client_pandas_or_slack_sdk():
    # Each of these cost start-up time in every launched run (~1.5 s together) and local mode
    # never uses them: BigQuery and Firestore are prod-only, slack_sdk is imported to send.
    assert imported_after_loading_the_code_location({"GRADING_ENV": "local"}) == set()


def test_prod_mode_loads_the_bigquery_client_but_not_firestore_until_a_lock_is_taken():
    loaded = imported_after_loading_the_code_location({"GRADING_ENV": "prod", "GRADING_BQ_PROJECT": "p"})
    assert {"google.cloud.bigquery", "dagster_gcp"} <= loaded
    assert "google.cloud.firestore" not in loaded and "slack_sdk" not in loaded


def test_every_job_runs_its_steps_in_the_run_process():
    from dagster import in_process_executor

    from grading_pipeline.definitions import defs

    jobs = [defs.resolve_implicit_global_asset_job_def(), *(defs.resolve_job_def(n) for n in ("grade_game_date", "duplicate_sweep", "cleanup_duplicates"))]
    assert all(job.executor_def is in_process_executor for job in jobs), [job.executor_def.name for job in jobs]


def test_translations_are_cached_so_a_new_process_needs_no_sqlglot(tmp_path):
    """Parsing and translating the SQL texts cost ~0.6 s in every launched run; once cached (keyed
    by text, dialect, sqlglot and the translation code), a fresh process does not import sqlglot."""
    env = {**os.environ, "GRADING_SQL_CACHE_DIR": str(tmp_path / "cache")}
    probe = (
        "import sys\n"
        "from grading_pipeline.sql_catalog import SqlDialect, ddl_columns\n"
        "SqlDialect('duckdb').render('grading/grade_predictions.sql')\n"
        "ddl_columns('ddl/030_prediction_accuracy.sql')\n"
        "print('sqlglot' in sys.modules)"
    )
    runs = [subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
            for _ in range(2)]
    assert [r.stdout.strip() for r in runs] == ["True", "False"], [r.stderr[-1000:] for r in runs]
    assert len(list((tmp_path / "cache").iterdir())) == 2


def test_a_changed_text_is_translated_again(tmp_path, monkeypatch):
    from grading_pipeline import sql_catalog

    monkeypatch.setenv("GRADING_SQL_CACHE_DIR", str(tmp_path))
    duckdb = sql_catalog.SqlDialect("duckdb")
    first = duckdb.render_text("SELECT COUNTIF(x) AS n FROM nba_predictions.t")
    second = duckdb.render_text("SELECT COUNTIF(y) AS n FROM nba_predictions.t")
    assert "x IS TRUE" in first.replace("(", "").replace(")", "") and "y" in second and first != second

"""Atomic partition replacement, proven with real OS processes on one DuckDB file (no lock)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, prediction

pytestmark = pytest.mark.processes
ROOT = Path(__file__).resolve().parent.parent
PLAYERS = [f"player{i:02d}" for i in range(40)]
SYSTEMS = ["catboost_v8", "ensemble_v1", "similarity"]
NEXT_DAY = GAME_DATE.replace(day=GAME_DATE.day + 1)


def seed(warehouse, predicted_points: float) -> None:
    predictions = [
        prediction(p, s, predicted_points=predicted_points, current_points_line=line)
        for p in PLAYERS for s in SYSTEMS for line in (14.5, None)
    ] + [prediction(p, game_date=NEXT_DAY) for p in PLAYERS]
    actuals = [actual(p, 15 + i % 10) for i, p in enumerate(PLAYERS)] + [actual(p, 9, game_date=NEXT_DAY) for p in PLAYERS]
    load(warehouse, predictions, actuals, dates=[GAME_DATE, NEXT_DAY])


def child(warehouse, tmp_path, *flags: str, dates: str = GAME_DATE.isoformat()) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "grading_pipeline_tests.support.materialize_child", warehouse.database,
         str(tmp_path / "locks.sqlite"), dates, *flags],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def copies(warehouse) -> dict[str, int]:
    (rows, keys, predicted), = fetch(
        warehouse,
        "SELECT COUNT(*), COUNT(DISTINCT (player_lookup, game_id, system_id, line_value)), MIN(predicted_points) "
        "FROM nba_predictions.prediction_accuracy WHERE game_date = ?", [GAME_DATE],
    )
    (perf_rows,), = fetch(
        warehouse, "SELECT COUNT(*) FROM nba_predictions.system_daily_performance WHERE game_date = ?", [GAME_DATE]
    )
    (other_day,), = fetch(
        warehouse, "SELECT COUNT(*) FROM nba_predictions.prediction_accuracy WHERE game_date = ?", [NEXT_DAY]
    )
    return {"rows": rows, "keys": keys, "predicted": float(predicted or 0), "perf_rows": perf_rows, "other_day": other_day}


def grade_in_process(warehouse, day=GAME_DATE) -> None:
    with warehouse.session() as session:
        assert publish_dates(session, day, day, policy=GradingPolicy()).committed


def test_many_processes_rematerializing_one_date_at_once_leave_exactly_one_copy(warehouse, tmp_path):
    seed(warehouse, predicted_points=20.0)
    grade_in_process(warehouse, NEXT_DAY)
    start_at = time.time() + 6.0  # after every process has imported Dagster
    procs = [child(warehouse, tmp_path, "--no-lock", "--times", "3", "--start-at", str(start_at)) for _ in range(4)]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    runs = [json.loads(line) for out, _ in outputs for line in out.splitlines() if line.startswith("{")]
    assert len(runs) == 12 and all(r["success"] for r in runs)
    assert all(r["metadata"]["lock_held"] is False for r in runs)
    expected = len(PLAYERS) * len(SYSTEMS) * 2
    assert copies(warehouse) == {"rows": expected, "keys": expected, "predicted": 20.0, "perf_rows": 3,
                                 "other_day": len(PLAYERS)}
    # Every run after the first replaced a complete copy: never half a date, never two.
    assert sorted({r["metadata"]["rows_replaced"] for r in runs}) in ([0, expected], [expected])


def test_a_process_killed_in_the_middle_of_a_write_leaves_the_previous_version(warehouse, tmp_path):
    seed(warehouse, predicted_points=20.0)
    grade_in_process(warehouse)
    grade_in_process(warehouse, NEXT_DAY)
    before = copies(warehouse)
    seed(warehouse, predicted_points=33.0)  # new source version, to be graded by the doomed process

    doomed = child(warehouse, tmp_path, "--no-lock", "--crash-before-commit")
    line = doomed.stdout.readline()
    assert line.strip() == "BEFORE_COMMIT", doomed.stderr.read()[-3000:]
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=30)
    assert doomed.returncode == -signal.SIGKILL

    assert copies(warehouse) == before  # the old version, whole
    grade_in_process(warehouse)
    after = copies(warehouse)
    assert after["rows"] == before["rows"] and after["predicted"] == 33.0

"""The partition lock end to end: real OS processes materializing one date through Dagster."""

from __future__ import annotations

import json
import time

import pytest

from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE
from grading_pipeline_tests.test_atomic_writes_across_processes import NEXT_DAY, PLAYERS, SYSTEMS, child, seed

pytestmark = pytest.mark.processes


def test_concurrent_runs_of_one_date_take_turns_under_the_lock(warehouse, tmp_path):
    seed(warehouse, predicted_points=20.0)
    start_at = time.time() + 6.0
    procs = [child(warehouse, tmp_path, "--times", "2", "--start-at", str(start_at)) for _ in range(3)]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    runs = [json.loads(line)["metadata"] for out, _ in outputs for line in out.splitlines() if line.startswith("{")]
    assert len(runs) == 6 and all(r["lock_held"] for r in runs)
    # Every acquisition got a new, larger fencing token; some runs had to wait for another's lease.
    tokens = [r["lock_fencing_token"] for r in runs]
    assert len(set(tokens)) == 6
    assert any(r["lock_attempts"] > 1 for r in runs)
    assert len({r["lock_holder"] for r in runs}) == 6
    expected = len(PLAYERS) * len(SYSTEMS) * 2
    (rows, keys), = fetch(
        warehouse,
        "SELECT COUNT(*), COUNT(DISTINCT (player_lookup, game_id, system_id, line_value)) "
        "FROM nba_predictions.prediction_accuracy WHERE game_date = ?", [GAME_DATE],
    )
    assert rows == keys == expected
    (newest,), = fetch(
        warehouse,
        "SELECT fencing_token FROM nba_predictions.partition_write_fences "
        "WHERE table_name = 'nba_predictions.prediction_accuracy' AND game_date = ?", [GAME_DATE],
    )
    assert newest == max(tokens)


def test_a_range_backfill_and_single_date_runs_of_its_dates_do_not_deadlock(warehouse, tmp_path):
    """Locks are taken before the warehouse is opened, in date order: a range run and single-date
    runs of dates inside it, started together, all finish, each date written whole."""
    seed(warehouse, predicted_points=20.0)
    start_at = time.time() + 6.0
    span = f"{GAME_DATE}..{NEXT_DAY}"
    procs = [child(warehouse, tmp_path, "--start-at", str(start_at), "--times", "2", dates=span),
             child(warehouse, tmp_path, "--start-at", str(start_at), "--times", "2", dates=NEXT_DAY.isoformat()),
             child(warehouse, tmp_path, "--start-at", str(start_at), "--times", "2")]
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    (rows, keys), = fetch(
        warehouse,
        "SELECT COUNT(*), COUNT(DISTINCT (game_date, player_lookup, game_id, system_id, line_value)) "
        "FROM nba_predictions.prediction_accuracy",
    )
    assert rows == keys == len(PLAYERS) * len(SYSTEMS) * 2 + len(PLAYERS)

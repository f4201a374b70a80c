"""Fencing tokens stay monotonic whatever store issued them, and a wall-clock step neither
lengthens nor shortens a lease on the embedded store."""

from __future__ import annotations

import time

import pytest

from grading_pipeline.locks import PartitionLock, SQLiteLockStore, make_holder_id
from grading_pipeline.locks import sqlite_store
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline_tests.conftest import fetch, materialize_graded
from grading_pipeline_tests.locks.conftest import take
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, prediction

DATE = "2025-01-20"


def test_runs_through_store_a_then_b_then_a_all_commit(warehouse, tmp_path, instance):
    """Tokens were previous + 1, seeded from the clock only for a new record: after a run through
    store B (another lock file), every later run through A was fenced out by B's larger token."""
    load(warehouse, [prediction("alpha", predicted_points=20.0)], [actual("alpha", 25)])

    def run_with(store: str):
        lock = PartitionLockResource(backend="sqlite", sqlite_path=str(tmp_path / f"{store}.sqlite"),
                                     max_wait_seconds=5.0, poll_interval_seconds=0.05, lease_seconds=30.0)
        result = materialize_graded({"warehouse": warehouse, "partition_lock": lock}, instance, GAME_DATE,
                                    raise_on_error=False)
        assert result.success, [e.message for e in result.all_events if e.is_failure]
        (token,), = fetch(warehouse, "SELECT fencing_token FROM nba_predictions.partition_write_fences "
                                     "WHERE table_name = 'nba_predictions.prediction_accuracy' AND game_date = ?", [GAME_DATE])
        return token

    tokens = [run_with("a"), run_with("b"), run_with("a"), run_with("a"), run_with("b")]
    assert all(later > earlier for earlier, later in zip(tokens, tokens[1:])), tokens
    (rows,), = fetch(warehouse, "SELECT COUNT(*) FROM nba_predictions.prediction_accuracy")
    assert rows == 1


def test_tokens_follow_the_clock_after_a_record_is_deleted(tmp_path):
    store = SQLiteLockStore(tmp_path / "locks.sqlite")
    first = take(store, DATE, 30.0)
    with store._transaction("test") as conn:  # what a TTL policy or an operator's delete does
        conn.execute("DELETE FROM partition_locks")
    assert take(store, DATE, 30.0).fencing_token > first.fencing_token


class WallClock:
    """time.time() of the lock store's module, steppable (an NTP step, an operator's `date -s`)."""

    def __init__(self):
        self.offset = 0.0
        self._time = time.time

    def __call__(self) -> float:
        return self._time() + self.offset


@pytest.mark.parametrize("step_seconds", [3600.0, -3600.0])
def test_a_wall_clock_step_does_not_move_a_lease(tmp_path, monkeypatch, step_seconds):
    path = tmp_path / "locks.sqlite"
    holder_store = SQLiteLockStore(path)
    lease = take(holder_store, DATE, 1.0, make_holder_id("holder", None))
    clock = WallClock()
    monkeypatch.setattr(sqlite_store.time, "time", clock)
    clock.offset = step_seconds  # the machine's wall clock jumps
    contender = PartitionLock(SQLiteLockStore(path), max_wait_seconds=0.0)  # a new process: reads the clock afresh
    if step_seconds > 0:
        # Forward: the lease must not expire early.
        with pytest.raises(Exception, match="timed out"):
            contender.acquire("grading", DATE, "op-early")
    started = time.monotonic()
    waiter = PartitionLock(SQLiteLockStore(path), max_wait_seconds=5.0, poll_interval_seconds=0.05)
    (taken,) = waiter.acquire("grading", DATE, "op-after-expiry")
    waited = time.monotonic() - started
    # Backward: the lease must not be lengthened by an hour; it ends after its 1 s.
    assert waited < 2.0 and taken.took_over_from == lease.holder_id and taken.fencing_token > lease.fencing_token
    waiter.release([taken])


def test_the_clock_is_shared_by_the_processes_of_one_boot(tmp_path):
    path = tmp_path / "locks.sqlite"
    a, b = SQLiteLockStore(path), SQLiteLockStore(path)
    _, now_a = a.get("grading", DATE)
    _, now_b = b.get("grading", DATE)
    assert 0 <= (now_b - now_a).total_seconds() < 1.0
    with a._transaction("test") as conn:
        (boots,) = conn.execute("SELECT COUNT(*) FROM lock_clock").fetchone()
    assert boots == 1

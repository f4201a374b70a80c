"""Fencing: a writer whose lease ran out, and whose lock was taken over, cannot commit."""

from __future__ import annotations

import time

import pytest

from grading_pipeline.errors import FencedOutError
from grading_pipeline.grading import ACCURACY_TABLE, GradingPolicy, grade_dates
from grading_pipeline.locks import PartitionLock, SQLiteLockBackend
from grading_pipeline.warehouse.base import Fence
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, prediction


def graded(warehouse) -> list[tuple]:
    return fetch(warehouse, "SELECT player_lookup, predicted_points FROM nba_predictions.prediction_accuracy ORDER BY 1")


def test_an_older_token_is_refused_and_changes_nothing(warehouse):
    load(warehouse, [prediction("alpha", predicted_points=20.0)], [actual("alpha", 25)])
    with warehouse.session() as session:
        grade_dates(session, GAME_DATE, GAME_DATE, GradingPolicy(), [Fence("grading", GAME_DATE, 10, "new-holder")])
    before = graded(warehouse)
    load(warehouse, [prediction("alpha", predicted_points=31.0)], [actual("alpha", 25)])
    with warehouse.session() as session, pytest.raises(FencedOutError, match="token 5 of stale-holder is older than token 10 of new-holder"):
        grade_dates(session, GAME_DATE, GAME_DATE, GradingPolicy(), [Fence("grading", GAME_DATE, 5, "stale-holder")])
    assert graded(warehouse) == before
    with warehouse.session() as session:
        grade_dates(session, GAME_DATE, GAME_DATE, GradingPolicy(), [Fence("grading", GAME_DATE, 11, "newer-holder")])
    assert graded(warehouse) == [("alpha", 31)]


def test_a_holder_paused_past_its_lease_is_fenced_out_after_a_takeover(warehouse, tmp_path):
    load(warehouse, [prediction("alpha", predicted_points=20.0)], [actual("alpha", 25)])
    backend = SQLiteLockBackend(tmp_path / "locks.sqlite")
    # No renewal within the test: the first holder behaves like a process frozen past its lease.
    frozen = PartitionLock(backend, max_wait_seconds=5, poll_interval_seconds=0.05, lease_seconds=0.5)
    frozen._start_renewal = lambda lease: None
    stale = frozen.acquire("grading", GAME_DATE, operation_id="stale-run")
    time.sleep(0.7)
    successor = PartitionLock(backend, max_wait_seconds=5, poll_interval_seconds=0.05, lease_seconds=30)
    with successor.hold("grading", GAME_DATE, operation_id="new-run") as lease:
        assert lease.took_over_from == stale.holder_id and lease.fencing_token > stale.fencing_token
        with warehouse.session() as session:
            session.claim_fences(ACCURACY_TABLE, [Fence("grading", GAME_DATE, lease.fencing_token, lease.holder_id)])
        # The stale holder wakes up and tries to write: refused, nothing written.
        with warehouse.session() as session, pytest.raises(FencedOutError):
            grade_dates(session, GAME_DATE, GAME_DATE, GradingPolicy(),
                        [Fence("grading", GAME_DATE, stale.fencing_token, stale.holder_id)])
        assert graded(warehouse) == []
    assert frozen.release(stale) is False  # and it cannot release its successor's lock
    frozen.backend.close()

"""Fencing: a writer whose lease ran out, and whose lock was taken over, cannot commit."""

from __future__ import annotations

import time

import pytest

from grading_pipeline.errors import FencedOutError
from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline.locks import PartitionLock, SQLiteLockStore
from grading_pipeline.tables import PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE
from grading_pipeline.warehouse.base import Fence
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, prediction

ACCURACY = PREDICTION_ACCURACY.name


def graded(warehouse) -> list[tuple]:
    return fetch(warehouse, "SELECT player_lookup, predicted_points FROM nba_predictions.prediction_accuracy ORDER BY 1")


def claim_and_publish(warehouse, token: int, holder: str):
    fences = {t.name: [Fence(t.lock_type, GAME_DATE, token, holder)] for t in (PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE)}
    with warehouse.session() as session:
        for table, table_fences in fences.items():
            session.claim_fences(table, table_fences)
        return publish_dates(session, GAME_DATE, GAME_DATE, policy=GradingPolicy(), fences=fences)


def test_an_older_token_is_refused_and_changes_nothing(warehouse):
    load(warehouse, [prediction("alpha", predicted_points=20.0)], [actual("alpha", 25)])
    assert claim_and_publish(warehouse, 10, "new-holder").committed
    before = graded(warehouse)
    load(warehouse, [prediction("alpha", predicted_points=31.0)], [actual("alpha", 25)])
    with pytest.raises(FencedOutError, match="token 5 of stale-holder is older than token 10 of new-holder"):
        claim_and_publish(warehouse, 5, "stale-holder")
    assert graded(warehouse) == before
    assert claim_and_publish(warehouse, 11, "newer-holder").committed
    assert graded(warehouse) == [("alpha", 31)]


def test_a_write_whose_claim_was_replaced_is_refused_inside_its_transaction(warehouse):
    """The stale holder skips the claim check (it claimed before the successor): its own write
    finds its fence row gone and changes nothing."""
    load(warehouse, [prediction("alpha", predicted_points=20.0)], [actual("alpha", 25)])
    assert claim_and_publish(warehouse, 10, "new-holder").committed
    load(warehouse, [prediction("alpha", predicted_points=31.0)], [actual("alpha", 25)])
    stale = {ACCURACY: [Fence("grading", GAME_DATE, 7, "stale-holder")]}
    with warehouse.session() as session, pytest.raises(FencedOutError, match="older than token 10 of new-holder"):
        publish_dates(session, GAME_DATE, GAME_DATE, fences=stale)
    assert graded(warehouse) == [("alpha", 20)]
    (written,) = fetch(warehouse, "SELECT COUNT(last_written_at) FROM nba_predictions.partition_write_fences "
                                  "WHERE table_name = ? AND fencing_token = 10", [ACCURACY])[0]
    assert written == 1  # the holder's own write marked its fence row


def test_a_holder_paused_past_its_lease_is_fenced_out_after_a_takeover(warehouse, tmp_path):
    load(warehouse, [prediction("alpha", predicted_points=20.0)], [actual("alpha", 25)])
    backend = SQLiteLockStore(tmp_path / "locks.sqlite")
    # No renewal within the test: the first holder behaves like a process frozen past its lease.
    frozen = PartitionLock(backend, max_wait_seconds=5, poll_interval_seconds=0.05, lease_seconds=0.5)
    frozen._renew_loop = lambda label, leases, stop: None
    (stale,) = frozen.acquire("grading", GAME_DATE, operation_id="stale-run")
    with warehouse.session() as session:
        session.claim_fences(ACCURACY, [Fence("grading", GAME_DATE, stale.fencing_token, stale.holder_id)])
    time.sleep(0.7)
    successor = PartitionLock(backend, max_wait_seconds=5, poll_interval_seconds=0.05, lease_seconds=30)
    with successor.hold("grading", GAME_DATE, operation_id="new-run") as (lease,):
        assert lease.took_over_from == stale.holder_id and lease.fencing_token > stale.fencing_token
        with warehouse.session() as session:
            session.claim_fences(ACCURACY, [Fence("grading", GAME_DATE, lease.fencing_token, lease.holder_id)])
        # The stale holder wakes up and tries to write: refused, nothing written.
        with warehouse.session() as session, pytest.raises(FencedOutError):
            publish_dates(session, GAME_DATE, GAME_DATE, fences={ACCURACY: [Fence("grading", GAME_DATE, stale.fencing_token, stale.holder_id)]})
        assert graded(warehouse) == []
    assert frozen.release([stale]) == [False]  # and it cannot release its successor's lock
    frozen.store.close()


def test_a_lease_lost_during_the_write_rolls_it_back(warehouse):
    """The lease is checked once more after the audits, right before COMMIT: a holder that lost it
    while writing (a takeover it has not seen yet) leaves the previous version whole."""
    from grading_pipeline.locks import LockLostError

    load(warehouse, [prediction("alpha", predicted_points=20.0)], [actual("alpha", 25)])
    assert claim_and_publish(warehouse, 10, "holder").committed
    load(warehouse, [prediction("alpha", predicted_points=31.0)], [actual("alpha", 25)])
    checked = []

    def lease_lost() -> None:
        checked.append(graded_in_transaction())
        raise LockLostError("lease of grading_2025-01-20 ran out without a successful renewal")

    with warehouse.session() as session:
        def graded_in_transaction():
            return session.query_text("SELECT predicted_points FROM nba_predictions.prediction_accuracy", {})

        fences = {t.name: [Fence(t.lock_type, GAME_DATE, 10, "holder")] for t in (PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE)}
        with pytest.raises(LockLostError):
            publish_dates(session, GAME_DATE, GAME_DATE, policy=GradingPolicy(), fences=fences, before_commit=lease_lost)
    assert checked == [[{"predicted_points": 31}]]  # checked after the new rows were written and audited
    assert graded(warehouse) == [("alpha", 20)]

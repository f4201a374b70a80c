"""Firestore-only behaviour: server time, documents left by the old system, lost write answers."""

from __future__ import annotations

import datetime as dt

import pytest

from grading_pipeline.locks import FirestoreLockStore, PartitionLock, make_holder_id
from grading_pipeline_tests.locks.conftest import take

pytestmark = pytest.mark.firestore
DATE = "2025-01-20"


@pytest.fixture
def backend(firestore_emulator_clean):
    backend = FirestoreLockStore(project=firestore_emulator_clean.project, timeout_seconds=5.0)
    yield backend
    backend.close()


def old_system_doc(backend, expires_in: float) -> dict:
    """A lock document as the old system wrote it: no fencing token, client-clock expiry."""
    now = dt.datetime.now(dt.timezone.utc)
    doc = {
        "operation_id": "old-op", "holder_id": "grading-function", "lock_type": "grading",
        "acquired_at": now, "expires_at": now + dt.timedelta(seconds=expires_in),
        "lock_key": f"grading_{DATE}",
    }
    backend.client.collection("grading_locks").document(f"grading_{DATE}").set(doc)
    return doc


def test_a_live_old_system_lock_is_respected(backend):
    old_system_doc(backend, expires_in=60)
    attempt = backend.acquire("grading", [DATE], make_holder_id(), ["new-op"], 5.0)
    assert not attempt.acquired and attempt.blockers[0].holder_id == "grading-function"


def test_an_expired_old_system_lock_is_taken_over_with_a_seeded_token(backend):
    old_system_doc(backend, expires_in=-1)
    lock = PartitionLock(backend, lease_seconds=5.0, poll_interval_seconds=0.05, max_wait_seconds=1.0)
    with lock.hold("grading", DATE, "new-op") as (lease,):
        assert lease.took_over_from == "grading-function"
        assert lease.fencing_token > 10**15  # seeded from the server clock, not 0 + 1


def test_expiry_comes_from_the_server_clock(backend):
    attempt = backend.acquire("grading", [DATE], make_holder_id(), ["op"], 30.0)
    (record,) = attempt.records
    snap = backend.client.collection("grading_locks").document(f"grading_{DATE}").get()
    # expires_at = server read time + lease; the write (update_time) follows that read closely.
    assert record.expires_at - attempt.store_now == dt.timedelta(seconds=30)
    assert record.acquired_at == attempt.store_now
    assert dt.timedelta(0) <= snap.update_time - attempt.store_now < dt.timedelta(seconds=2)
    assert snap.get("ttl_expire_at") - snap.get("expires_at") == dt.timedelta(days=7)


def test_a_write_whose_answer_was_lost_is_recognised_as_ours(backend):
    holder = make_holder_id("run-x", "grade")
    first = take(backend, DATE, 30.0, holder)
    # The same attempt retried (e.g. the client did not see the answer): not a takeover of
    # someone else, and a fresh lease with a new token.
    again = take(backend, DATE, 30.0, holder)
    assert again.took_over_from is None
    assert again.fencing_token > first.fencing_token
    assert again.expires_at >= first.expires_at

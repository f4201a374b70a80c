"""The lock's contract, identical on both backends (SQLite file, real Firestore emulator)."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import time

import pytest

from grading_pipeline.locks import (
    TTL_DELAY,
    LockBackendUnavailableError,
    LockLostError,
    LockTimeoutError,
    PartitionLock,
    force_release,
    list_locks,
    make_holder_id,
)
from grading_pipeline_tests.locks.conftest import take

DATE = "2025-01-20"


def stored_fields(backend, backend_kind, lock_type: str, game_date: str) -> dict:
    """The raw stored fields, read around the library (Firestore document / SQLite row)."""
    if backend_kind == "firestore":
        snap = backend.client.collection(f"{lock_type}_locks").document(f"{lock_type}_{game_date}").get()
        assert snap.exists, "no document at {lock_type}_locks/{lock_type}_{game_date}"
        return snap.to_dict()
    con = sqlite3.connect(backend.path)
    con.row_factory = sqlite3.Row
    row = con.execute(
        "SELECT * FROM partition_locks WHERE lock_key = ?", (f"{lock_type}_{game_date}",)
    ).fetchone()
    con.close()
    assert row is not None
    return dict(row)


def test_acquire_and_release_store_the_old_layout_plus_fencing(backend, backend_kind, make_lock, caplog):
    lock = make_lock(backend)
    caplog.set_level(logging.DEBUG, logger="grading_pipeline.locks")
    with lock.hold("grading", DATE, "grade-2025-01-20", run_id="run-1", step="grade") as (lease,):
        assert lease.locked is True
        assert (lease.lock_type, lease.game_date, lease.lock_key) == ("grading", DATE, "grading_2025-01-20")
        assert lease.operation_id == "grade-2025-01-20"
        assert lease.holder_id.startswith("run-1:grade:")
        assert lease.attempts == 1 and lease.took_over_from is None and lease.wait_seconds < 2
        assert (lease.expires_at - lease.acquired_at).total_seconds() == pytest.approx(2.0, abs=0.5)
        fields = stored_fields(backend, backend_kind, "grading", DATE)
        for name in ("operation_id", "holder_id", "lock_type", "acquired_at", "expires_at",
                     "lock_key", "fencing_token", "ttl_expire_at"):
            assert name in fields, name
        assert fields["holder_id"] == lease.holder_id
        assert fields["operation_id"] == "grade-2025-01-20"
        assert fields["lock_type"] == "grading"
        assert fields["lock_key"] == "grading_2025-01-20"
        assert fields["fencing_token"] == lease.fencing_token
        record, now = backend.get("grading", DATE)
        assert record.status(now) == "held"
        assert record.ttl_expire_at - record.expires_at == TTL_DELAY
        lease.assert_held()
    # Released, not deleted: the fencing counter stays.
    record, now = backend.get("grading", DATE)
    assert record is not None and record.status(now) == "released"
    assert record.holder_id is None and record.released_at is not None
    assert record.last_holder_id == lease.holder_id and record.last_operation_id == "grade-2025-01-20"
    assert record.fencing_token == lease.fencing_token
    with pytest.raises(LockLostError):
        lease.assert_held()  # a released lease is not held
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "acquired by" in messages and "released by" in messages


def test_release_on_exception_then_reacquire(backend, make_lock):
    lock = make_lock(backend, max_wait_seconds=0.0)
    with pytest.raises(ZeroDivisionError):
        with lock.hold("grading", DATE, "op-1") as (first,):
            1 / 0
    record, now = backend.get("grading", DATE)
    assert record.status(now) == "released"
    with lock.hold("grading", DATE, "op-2") as (second,):  # no wait needed
        assert second.attempts == 1
        assert second.fencing_token > first.fencing_token
        assert second.took_over_from is None


def test_concurrent_attempts_are_serialised(make_lock):
    intervals: list[tuple[float, float, str]] = []
    leases = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def worker(name: str) -> None:
        lock = make_lock()  # own backend instance, as another process would have
        try:
            start.wait()
            with lock.hold("grading", DATE, f"op-{name}") as (lease,):
                began = time.monotonic()
                time.sleep(0.3)
                intervals.append((began, time.monotonic(), name))
                leases.append(lease)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in "abc"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not errors, errors
    intervals.sort()
    assert len(intervals) == 3
    for (_, end, _), (begin, _, _) in zip(intervals, intervals[1:]):
        assert begin >= end, f"holds overlapped: {intervals}"
    tokens = sorted(lease.fencing_token for lease in leases)
    assert len(set(tokens)) == 3
    waited = sorted(leases, key=lambda l: l.fencing_token)
    assert waited[-1].attempts > 1 and waited[-1].wait_seconds >= 0.5


def test_lock_types_and_dates_are_independent(make_lock):
    lock = make_lock(max_wait_seconds=0.0)
    with lock.hold("grading", DATE, "g") as (g,), lock.hold("consolidation", DATE, "c") as (c,), \
            lock.hold("grading", "2025-01-21", "g2") as (g2,):
        assert g.locked and c.locked and g2.locked
        assert {g.lock_key, c.lock_key, g2.lock_key} == {
            "grading_2025-01-20", "consolidation_2025-01-20", "grading_2025-01-21"}
        with pytest.raises(LockTimeoutError):
            with lock.hold("grading", DATE, "g-again"):
                pass
    listed = {(i.lock_type, i.game_date): i.status for i in list_locks(lock.store)}
    assert listed == {("grading", DATE): "released", ("consolidation", DATE): "released",
                      ("grading", "2025-01-21"): "released"}
    assert {i.lock_key for i in list_locks(lock.store, "consolidation")} == {"consolidation_2025-01-20"}


def test_takeover_after_expiry(backend, make_lock, caplog):
    crashed = make_holder_id("crashed-run", "grade")
    first = take(backend, DATE, 0.6, crashed, "op-crashed")
    lock = make_lock(backend, poll_interval_seconds=0.2, max_wait_seconds=5.0)
    caplog.set_level(logging.INFO, logger="grading_pipeline.locks")
    started = time.monotonic()
    with lock.hold("grading", DATE, "op-new") as (lease,):
        waited = time.monotonic() - started
        assert lease.took_over_from == crashed
        assert lease.fencing_token > first.fencing_token
        record, _ = backend.get("grading", DATE)
        assert record.took_over_from == crashed and record.holder_id == lease.holder_id
    assert 0.3 <= waited < 2.0, waited
    assert any("TAKEOVER" in r.getMessage() and crashed in r.getMessage() for r in caplog.records)


def test_stale_holder_cannot_release_or_renew_its_successors_lock(backend):
    stale = make_holder_id("old-run", "grade")
    first = take(backend, DATE, 0.3, stale, "op-old")
    time.sleep(0.45)
    successor = make_holder_id("new-run", "grade")
    taken = take(backend, DATE, 30.0, successor, "op-new")
    assert taken.took_over_from == stale
    before, _ = backend.get("grading", DATE)
    assert backend.release("grading", [(DATE, first.fencing_token)], stale) == [False]
    (refused,) = backend.renew("grading", [(DATE, first.fencing_token)], stale, 30.0)
    assert isinstance(refused, LockLostError) and "now held by" in str(refused)
    after, now = backend.get("grading", DATE)
    assert after == before and after.holder_id == successor and after.status(now) == "held"
    # The successor still releases normally.
    assert backend.release("grading", [(DATE, taken.fencing_token)], successor) == [True]


class _Partitioned:
    """A store whose renewals fail as if the network dropped (the holder stalls)."""

    def __init__(self, inner):
        self._inner = inner
        self.name = inner.name

    def renew(self, *args, **kwargs):
        raise LockBackendUnavailableError("simulated network partition", transient=True)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_holder_that_loses_its_lease_is_told_and_leaves_the_successor_alone(backend_factory, make_lock, caplog):
    caplog.set_level(logging.INFO, logger="grading_pipeline.locks")
    stale_lock = PartitionLock(_Partitioned(backend_factory()), lease_seconds=0.6,
                               poll_interval_seconds=0.02, max_wait_seconds=1.0)
    successor_lock = make_lock(lease_seconds=5.0, poll_interval_seconds=0.05)
    with pytest.raises(LockLostError, match="lost while operation op-stale"):
        with stale_lock.hold("grading", DATE, "op-stale") as (stale,):
            with successor_lock.hold("grading", DATE, "op-successor") as (successor,):
                assert successor.took_over_from == stale.holder_id
                assert successor.fencing_token > stale.fencing_token
                with pytest.raises(LockLostError):
                    stale.assert_held()
    # The stale holder's exit released nothing: the successor's lock is intact until its own exit.
    record, _ = successor_lock.store.get("grading", DATE)
    assert record.last_holder_id == successor.holder_id and record.release_reason == "released"
    assert record.fencing_token == successor.fencing_token
    assert any("not released by" in r.getMessage() for r in caplog.records)


def test_renewal_keeps_a_long_holders_lock(make_lock, caplog):
    caplog.set_level(logging.INFO, logger="grading_pipeline.locks")
    holder = make_lock(lease_seconds=1.0)
    contender = make_lock(max_wait_seconds=2.6, poll_interval_seconds=0.1)
    outcome: list[BaseException | None] = []

    def contend() -> None:
        try:
            with contender.hold("grading", DATE, "op-contender"):
                outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with holder.hold("grading", DATE, "op-long") as (lease,):
        first_expiry = lease.expires_at
        thread = threading.Thread(target=contend)
        thread.start()
        time.sleep(3.0)
        lease.assert_held()
        assert lease.renewals >= 5
        assert lease.expires_at > first_expiry + dt.timedelta(seconds=1.5)
        thread.join(5)
    assert len(outcome) == 1 and isinstance(outcome[0], LockTimeoutError), outcome
    assert any("renewed by" in r.getMessage() for r in caplog.records)


def test_fencing_token_strictly_increases(backend, make_lock):
    lock = make_lock(backend, poll_interval_seconds=0.05)
    tokens = []
    for i in range(3):
        with lock.hold("grading", DATE, f"op-{i}") as (lease,):
            tokens.append(lease.fencing_token)
    crashed = make_holder_id("crashed", None)
    tokens.append(take(backend, DATE, 0.2, crashed).fencing_token)
    (lease,) = lock.acquire("grading", DATE, "op-takeover")  # takes over after 0.2 s
    assert lease.took_over_from == crashed
    tokens.append(lease.fencing_token)
    assert force_release(backend, "grading", DATE).holder_id == lease.holder_id
    with lock.hold("grading", DATE, "op-after-force") as (after_force,):
        tokens.append(after_force.fencing_token)
    assert lock.release([lease]) == [False]  # force-released: its release touches nothing
    with lock.hold("consolidation", DATE, "other-type") as (other,):
        pass
    assert all(b > a for a, b in zip(tokens, tokens[1:])), tokens
    assert other.fencing_token > 10**15  # at least the store clock in microseconds


def test_timeout_error_names_the_holder(make_lock):
    holder = make_lock()
    waiter = make_lock(max_wait_seconds=0.3, poll_interval_seconds=0.05)
    with holder.hold("grading", DATE, "op-holding", run_id="run-h") as (lease,):
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as info:
            with waiter.hold("grading", DATE, "op-waiting"):
                pytest.fail("must not get the lock")
        assert 0.25 <= time.monotonic() - started < 2.0
    err = info.value
    assert lease.holder_id in str(err) and "op-holding" in str(err)
    assert err.holder_expires_at.isoformat(timespec="milliseconds") in str(err)
    assert abs((err.holder_expires_at - lease.expires_at).total_seconds()) < 1.0
    assert err.holder_id == lease.holder_id and err.holder_operation_id == "op-holding"
    assert err.attempts >= 2


def test_admin_lists_and_force_releases(backend, make_lock):
    lock = make_lock(backend)
    expired = make_holder_id("dead", None)
    take(backend, "2025-01-19", 0.05, expired, "op-dead")
    with lock.hold("grading", "2025-01-18", "op-released"):
        pass
    time.sleep(0.1)
    (live,) = lock.acquire("grading", DATE, "op-live")
    rows = {r.game_date: r for r in list_locks(backend, "grading")}
    assert rows[DATE].status == "held" and rows[DATE].holder_id == live.holder_id
    assert rows[DATE].operation_id == "op-live" and rows[DATE].fencing_token == live.fencing_token
    assert rows["2025-01-19"].status == "expired" and rows["2025-01-19"].holder_id == expired
    assert rows["2025-01-18"].status == "released" and rows["2025-01-18"].holder_id is None
    assert rows["2025-01-18"].last_operation_id == "op-released"

    removed = force_release(backend, "grading", DATE, released_by="test-operator")
    assert removed.holder_id == live.holder_id and removed.operation_id == "op-live"
    record, now = backend.get("grading", DATE)
    assert record.status(now) == "released" and record.release_reason == "force_released"
    assert record.released_by == "test-operator" and record.fencing_token == live.fencing_token
    assert force_release(backend, "grading", DATE) is None  # nobody holds it now
    (refused,) = backend.renew("grading", [(DATE, live.fencing_token)], live.holder_id, 2.0)
    assert isinstance(refused, LockLostError)
    with lock.hold("grading", DATE, "op-next") as (nxt,):
        assert nxt.fencing_token > live.fencing_token and nxt.took_over_from is None
    assert lock.release([live]) == [False]
    with pytest.raises(LockLostError):
        live.assert_held()
    assert force_release(backend, "grading", "2025-01-19").holder_id == expired
    assert force_release(backend, "grading", "2030-01-01") is None  # never existed


@pytest.mark.parametrize(
    "lock_type, game_date",
    [("Grading", DATE), ("grading/x", DATE), ("", DATE), ("grading", "2025-13-01"), ("grading", "yesterday")],
)
def test_bad_keys_are_rejected(make_lock, lock_type, game_date):
    with pytest.raises(ValueError):
        with make_lock().hold(lock_type, game_date, "op"):
            pass


def test_game_date_accepts_dates(make_lock):
    with make_lock().hold("grading", dt.date(2025, 1, 20), "op") as (lease,):
        assert lease.lock_key == "grading_2025-01-20"


def test_holder_ids_are_unique_per_attempt():
    a, b = make_holder_id("run-9", "grade"), make_holder_id("run-9", "grade")
    assert a != b
    run, step, host, pid, rand = a.split(":")
    assert (run, step) == ("run-9", "grade") and pid.isdigit() and len(rand) >= 8
    assert make_holder_id().startswith("norun:nostep:")

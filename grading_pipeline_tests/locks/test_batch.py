"""A hold of several dates: taken all or nothing, renewed and released together, one store call
each, with the same contract per date as a hold of one. Both stores (SQLite file, real Firestore
emulator)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter

import pytest

from grading_pipeline.locks import (
    LockBackendUnavailableError,
    LockLostError,
    LockTimeoutError,
    PartitionLock,
    force_release,
    make_holder_id,
)
from grading_pipeline_tests.locks.conftest import take
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline_tests.locks import _batch_workers
from grading_pipeline_tests.locks._workers import run_together

LOGGER = "grading_pipeline.locks"


def days(n: int, start: dt.date = dt.date(2025, 10, 21)) -> list[str]:
    return [(start + dt.timedelta(days=i)).isoformat() for i in range(n)]


class Counting:
    """Counts the backend calls made through it."""

    def __init__(self, inner):
        self._inner = inner
        self.name = inner.name
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


class RenewalsFail:
    """A store whose renewals fail as if the network dropped (the holder stalls)."""

    def __init__(self, inner):
        self._inner = inner
        self.name = inner.name

    def renew(self, *args, **kwargs):
        raise LockBackendUnavailableError("simulated network partition", transient=True)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_batch_acquire_and_release(backend, backend_kind, make_lock, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    dates = days(31)
    counting = Counting(backend)
    # The store's own round trips: one read + one atomic conditional write.
    inner_calls: Counter[str] = Counter()
    for name in ("_read", "_write"):
        if hasattr(backend, name):
            original = getattr(backend, name)

            def wrapper(*args, _name=name, _original=original, **kwargs):
                inner_calls[_name] += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(backend, name, wrapper)
    lock = make_lock(counting, lease_seconds=30.0)
    with lock.hold("grading", list(reversed(dates)), lambda d: f"grade-{d}",
                        run_id="run-b", step="grade") as leases:
        assert [l.game_date for l in leases] == dates  # date order, whatever the input order
        assert len({l.lock_key for l in leases}) == 31
        assert len({l.holder_id for l in leases}) == 1
        assert leases[0].holder_id.startswith("run-b:grade:")
        for lease in leases:
            assert lease.locked is True and lease.unlocked_reason is None
            assert lease.operation_id == f"grade-{lease.game_date}"
            assert lease.attempts == 1 and lease.took_over_from is None and lease.wait_seconds < 2
            lease.assert_held()
        acquire_calls = dict(counting.calls)
        acquire_inner = dict(inner_calls)
        for date in (dates[0], dates[17], dates[-1]):
            record, now = backend.get("grading", date)
            lease = leases[dates.index(date)]
            assert record.status(now) == "held" and record.holder_id == lease.holder_id
            assert record.fencing_token == lease.fencing_token
            assert record.operation_id == f"grade-{date}"
    assert acquire_calls == {"acquire": 1}
    assert acquire_inner == {"_read": 1, "_write": 1}
    assert counting.calls["release"] == 1
    assert "renew" not in counting.calls  # 30 s lease
    assert inner_calls == {"_read": 2 + 3, "_write": 2}  # + the three get() above
    records = {r.game_date: r for r in backend.records("grading")[0]}
    for lease in leases:
        record = records[lease.game_date]
        assert record.holder_id is None and record.release_reason == "released"
        assert record.last_holder_id == lease.holder_id
        assert record.last_operation_id == f"grade-{lease.game_date}"
        assert record.fencing_token == lease.fencing_token
        with pytest.raises(LockLostError):
            lease.assert_held()
    acquired = [r for r in caplog.records if "acquired by" in r.getMessage()]
    assert len(acquired) == 1 and acquired[0].levelno == logging.INFO
    message = acquired[0].getMessage()
    assert "grading 2025-10-21..2025-11-20 (31 dates): acquired by run-b:grade:" in message
    assert "tokens " in message and "1 attempt(s)" in message
    released = [r for r in caplog.records if "released by" in r.getMessage()]
    assert len(released) == 1 and released[0].levelno == logging.DEBUG


def test_batch_inputs(make_lock):
    lock = make_lock()
    with lock.hold("grading", [], "op") as none:
        assert none == []
    with pytest.raises(ValueError, match="repeat"):
        with lock.hold("grading", ["2025-01-20", dt.date(2025, 1, 20)], "op"):
            pass
    with lock.hold("grading", "2025-01-20", "op") as one:  # a single date is a batch of one
        assert [l.lock_key for l in one] == ["grading_2025-01-20"]
    with pytest.raises(ValueError):
        with lock.hold("Grading", ["2025-01-20"], "op"):
            pass
    with lock.hold("grading", [dt.date(2025, 1, 21), dt.datetime(2025, 1, 20, 5)], "op") as two:
        assert [l.lock_key for l in two] == ["grading_2025-01-20", "grading_2025-01-21"]
        assert all(l.operation_id == "op" for l in two)


def test_fencing_tokens_increase_per_date_across_batches_and_single_holds(backend, make_lock):
    lock = make_lock(backend, poll_interval_seconds=0.05)
    dates = days(4)
    tokens: dict[str, list[int]] = {d: [] for d in dates}

    def batch():
        with lock.hold("grading", dates, "op-batch") as leases:
            for lease in leases:
                tokens[lease.game_date].append(lease.fencing_token)

    batch()
    with lock.hold("grading", dates[1], "op-single") as (single,):
        tokens[dates[1]].append(single.fencing_token)
    batch()
    crashed = make_holder_id("crashed", None)
    tokens[dates[2]].append(take(backend, dates[2], 0.2, crashed).fencing_token)
    with lock.hold("grading", dates, "op-after-crash") as leases:  # takes over dates[2]
        assert [l.took_over_from for l in leases] == [None, None, crashed, None]
        for lease in leases:
            tokens[lease.game_date].append(lease.fencing_token)
    held = lock.acquire("grading", dates[:2], "op-forced")
    assert force_release(backend, "grading", dates[0]).holder_id == held[0].holder_id
    assert lock.release(held) == [False, True]  # the force-released one is not ours now
    for lease in held:
        tokens[lease.game_date].append(lease.fencing_token)
    batch()
    for date, seq in tokens.items():
        assert all(b > a for a, b in zip(seq, seq[1:])), (date, seq)
    assert [len(seq) for seq in tokens.values()] == [5, 6, 5, 4]


def test_batch_waits_for_a_date_held_by_a_single_holder_then_gets_all(make_lock, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    dates = days(6)
    single = make_lock(lease_seconds=5.0)
    batcher = make_lock(poll_interval_seconds=0.05, max_wait_seconds=5.0)
    other = make_lock(max_wait_seconds=0.0)
    (held,) = single.acquire("grading", dates[3], "op-single")
    result: list = []

    def run_batch():
        try:
            with batcher.hold("grading", dates, "op-batch") as leases:
                result.append([(l.game_date, l.fencing_token, l.attempts, l.wait_seconds) for l in leases])
        except BaseException as exc:  # pragma: no cover - reported below
            result.append(exc)

    thread = threading.Thread(target=run_batch)
    started = time.monotonic()
    thread.start()
    time.sleep(0.4)
    # All or nothing: while it waits for dates[3], the batch holds none of the others.
    with other.hold("grading", dates[0], "op-other") as (free,):
        assert free.attempts == 1
    assert not result
    single.release([held])
    thread.join(10)
    assert len(result) == 1 and isinstance(result[0], list), result
    got = result[0]
    assert [d for d, *_ in got] == dates
    assert all(attempts > 1 and wait >= 0.35 for _, _, attempts, wait in got)
    assert dict((d, t) for d, t, *_ in got)[dates[3]] > held.fencing_token
    assert time.monotonic() - started < 3.0
    assert any("waiting" in r.getMessage() and held.holder_id in r.getMessage() for r in caplog.records)


def test_timeout_names_the_holder_of_a_held_date(backend, make_lock):
    dates = days(8)
    holder = make_lock(backend)
    waiter = make_lock(max_wait_seconds=0.3, poll_interval_seconds=0.05)
    with holder.hold("grading", dates[2], "op-holding", run_id="run-h") as (lease,), \
            holder.hold("grading", dates[5], "op-holding-2", run_id="run-h"):
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as info:
            with waiter.hold("grading", dates, "op-waiting"):
                pytest.fail("must not get the locks")
        assert 0.25 <= time.monotonic() - started < 2.0
        # Nothing of the batch is held after the timeout.
        records = {r.game_date: r for r in backend.records("grading")[0]}
        assert set(records) == {dates[2], dates[5]}
    err = info.value
    assert err.game_date == dates[2] and err.holder_id == lease.holder_id
    assert err.holder_operation_id == "op-holding"
    assert lease.holder_id in str(err) and "op-holding" in str(err) and dates[2] in str(err)
    assert "1 more date(s) also held: " + dates[5] in str(err)
    assert [b.game_date for b in err.blockers] == [dates[2], dates[5]]
    assert err.game_dates == dates and err.attempts >= 2


def test_takeover_of_an_expired_date_inside_a_batch(backend, make_lock, caplog):
    dates = days(5)
    crashed = make_holder_id("crashed-run", "grade")
    first = take(backend, dates[1], 0.6, crashed, "op-crashed")
    lock = make_lock(backend, poll_interval_seconds=0.2, max_wait_seconds=5.0)
    caplog.set_level(logging.INFO, logger=LOGGER)
    started = time.monotonic()
    with lock.hold("grading", dates, "op-new") as leases:
        waited = time.monotonic() - started
        assert [l.took_over_from for l in leases] == [None, crashed, None, None, None]
        assert leases[1].fencing_token > first.fencing_token
        record, _ = backend.get("grading", dates[1])
        assert record.took_over_from == crashed and record.holder_id == leases[1].holder_id
    assert 0.3 <= waited < 2.0, waited
    takeovers = [r for r in caplog.records if "TAKEOVER" in r.getMessage()]
    assert len(takeovers) == 1 and takeovers[0].levelno == logging.WARNING
    assert crashed in takeovers[0].getMessage() and f"grading_{dates[1]}" in takeovers[0].getMessage()


def test_stale_batch_holder_cannot_release_or_renew_a_successors_date(backend):
    dates = days(3)
    stale = make_holder_id("old-run", "grade")
    first = backend.acquire("grading", dates, stale, ["op-old"] * 3, 0.3)
    assert first.acquired and len(first.records) == 3
    time.sleep(0.45)
    successor = make_holder_id("new-run", "grade")
    taken = take(backend, dates[0], 30.0, successor, "op-new")
    assert taken.took_over_from == stale
    before, _ = backend.get("grading", dates[0])
    renewed = backend.renew("grading", [(r.game_date, r.fencing_token) for r in first.records], stale, 30.0)
    assert all(isinstance(o, LockLostError) for o in renewed)  # taken over / expired
    assert "now held by" in str(renewed[0]) and "expired" in str(renewed[1])
    released = backend.release("grading", [(r.game_date, r.fencing_token) for r in first.records], stale)
    # Its own (expired, never taken) dates are still released; the successor's date is not.
    assert released == [False, True, True]
    after, now = backend.get("grading", dates[0])
    assert after == before and after.holder_id == successor and after.status(now) == "held"
    assert backend.release("grading", [(dates[0], taken.fencing_token)], successor) == [True]


def test_a_stalled_batch_holder_is_told_and_leaves_the_successor_alone(backend_factory, make_lock, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    dates = days(3)
    stale_lock = PartitionLock(RenewalsFail(backend_factory()), lease_seconds=0.6,
                               poll_interval_seconds=0.02, max_wait_seconds=1.0)
    successor_lock = make_lock(lease_seconds=5.0, poll_interval_seconds=0.05)
    with pytest.raises(LockLostError, match="3 of 3 lock"):
        with stale_lock.hold("grading", dates, "op-stale") as stale:
            with successor_lock.hold("grading", dates[1], "op-successor") as (successor,):
                assert successor.took_over_from == stale[1].holder_id
                assert successor.fencing_token > stale[1].fencing_token
                for lease in stale:
                    with pytest.raises(LockLostError):
                        lease.assert_held()
    record, _ = successor_lock.store.get("grading", dates[1])
    assert record.last_holder_id == successor.holder_id and record.release_reason == "released"
    assert any("not released by" in r.getMessage() and dates[1] in r.getMessage()
               for r in caplog.records)
    assert any("renewal failed" in r.getMessage() and "(3 dates)" in r.getMessage() for r in caplog.records)


def test_renewal_keeps_a_batch_alive_past_its_lease(make_lock, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    dates = days(5)
    holder = make_lock(lease_seconds=1.0)
    contender = make_lock(max_wait_seconds=0.0)
    with holder.hold("grading", dates, "op-long") as leases:
        renewers = [t.name for t in threading.enumerate() if t.name.startswith("lock-renewal-")]
        # ONE renewal thread for the batch (none per lease).
        assert renewers == ["lock-renewal-grading 2025-10-21..2025-10-25 (5 dates)"], renewers
        first_expiry = leases[0].expires_at
        time.sleep(2.5)
        for lease in leases:
            lease.assert_held()
            assert lease.renewals >= 4
            assert lease.expires_at > first_expiry + dt.timedelta(seconds=1.2)
        with pytest.raises(LockTimeoutError):
            with contender.hold("grading", dates[4], "op-contender"):
                pass
        renewed = [r for r in caplog.records if "renewed by" in r.getMessage()]
        # One line per batch renewal, not one per date (+-1: a renewal may land in between).
        assert abs(len(renewed) - leases[0].renewals) <= 1
        assert "(5 dates)" in renewed[0].getMessage()


def test_a_refused_renewal_loses_only_that_date(backend, make_lock, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    dates = days(4)
    lock = make_lock(backend, lease_seconds=0.9)
    with pytest.raises(LockLostError, match=f"1 of 4 lock.*grading_{dates[2]}"):
        with lock.hold("grading", dates, "op") as leases:
            force_release(backend, "grading", dates[2], released_by="operator")
            time.sleep(0.75)  # at least one renewal round
            with pytest.raises(LockLostError, match="force_released|released by operator"):
                leases[2].assert_held()
            for i in (0, 1, 3):
                leases[i].assert_held()
                assert leases[i].renewals >= 1
    assert any("LOST by" in r.getMessage() and dates[2] in r.getMessage() for r in caplog.records)
    records = {r.game_date: r for r in backend.records("grading")[0]}
    assert records[dates[2]].release_reason == "force_released"
    assert all(records[d].release_reason == "released" for d in (dates[0], dates[1], dates[3]))


# -- mutual exclusion between OS processes ----------------------------------------------------

PROCESSES = 4
ROUNDS = 20
DATES = days(8)


@pytest.mark.processes
@pytest.mark.parametrize("kind", ["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)])
def test_batches_exclude_each_other_across_processes(kind, tmp_path, request):
    if kind == "firestore":
        backend_arg = request.getfixturevalue("firestore_emulator_clean").project
    else:
        backend_arg = str(tmp_path / "locks.sqlite")
    counters = tmp_path / "counters"
    counters.mkdir()
    for d in DATES:
        (counters / d).write_text("0")
    out = tmp_path / "results"
    out.mkdir()
    rows, elapsed = run_together(
        _batch_workers.batch_increment_worker,
        lambda i, barrier: (i, str(counters), str(out), DATES, ROUNDS, kind, backend_arg, barrier, 0.002),
        PROCESSES, out, join_timeout=120,
    )
    records: list[tuple[str, int, int]] = [tuple(r) for r in rows]
    per_date = Counter(d for d, _, _ in records)
    assert sum(per_date.values()) > PROCESSES * ROUNDS  # batches of 1-4 dates
    for d in DATES:
        assert int((counters / d).read_text()) == per_date[d], f"lost updates on {d}"
        # Per date: one token per acquisition, and token order is the order of the increments.
        mine = sorted((token, value) for date, token, value in records if date == d)
        assert len({t for t, _ in mine}) == len(mine)
        assert [v for _, v in mine] == list(range(len(mine)))
    print(f"{kind}: {PROCESSES}x{ROUNDS} batch holds ({sum(per_date.values())} date increments) "
          f"in {elapsed:.1f} s")

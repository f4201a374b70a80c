"""The policy over a lock store: wait, renew, take over, release.

``PartitionLock(store).hold(lock_type, game_dates, operation_id, run_id, step)`` waits for the locks
of every date (all or nothing per attempt, so a batch never sits on some dates while waiting for
others), renews them together in one background thread every ``lease_seconds / 3``, and releases
them on exit. A single date is a batch of one.

Fail closed, nothing silent:

* a date still held by someone else after ``max_wait_seconds`` -> :class:`LockTimeoutError` naming
  the holder, its operation and its expiry;
* a transient store error (a deadline, 503, a lost race) is retried with backoff within the same
  wait budget; a permanent one, or one that lasts the whole budget, raises
  :class:`LockBackendUnavailableError` saying how long it tried;
* a lease lost while held (renewal refused after a takeover or a force-release, or renewals failing
  until the lease ran out): ``lease.assert_held()`` raises :class:`LockLostError`, and so does the
  end of a ``with`` block whose body finished normally.

An expired holder's lock is taken over (logged as TAKEOVER). Release and renewal are owner-checked
in the store (holder id + fencing token, compare-and-swap).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, TypeVar

from .lease import (
    Lease,
    LockBackendUnavailableError,
    LockLostError,
    LockTimeoutError,
    batch_label,
    fmt_time,
    make_holder_id,
    normalize_dates,
    span,
    validate_lock_type,
)
from .store import Acquisition, LockStore

T = TypeVar("T")
OperationId = str | Callable[[str], str]
LOGGER_NAME = "grading_pipeline.locks"
OPERATOR_HINT = "grading-pipeline locks list / grading-pipeline locks release LOCK_TYPE GAME_DATE"


class PartitionLock:
    """Blocking lease lock over a store. Thread-safe; one instance serves many holds.
    ``logger``: a ``logging.Logger`` or anything with its methods (e.g. a Dagster logger)."""

    def __init__(self, store: LockStore, *, max_wait_seconds: float = 300.0, poll_interval_seconds: float = 5.0,
                 lease_seconds: float = 300.0, logger: Any = None, raise_if_lost_on_exit: bool = True) -> None:
        if lease_seconds <= 0 or poll_interval_seconds <= 0 or max_wait_seconds < 0:
            raise ValueError("lease_seconds and poll_interval_seconds must be > 0, max_wait_seconds >= 0")
        self.store = store
        self.max_wait_seconds, self.poll_interval_seconds = float(max_wait_seconds), float(poll_interval_seconds)
        self.lease_seconds = float(lease_seconds)
        self.renew_interval_seconds = self.lease_seconds / 3.0
        self.log = logger if logger is not None else logging.getLogger(LOGGER_NAME)
        self.raise_if_lost_on_exit = raise_if_lost_on_exit
        self._renewals: dict[int, tuple[threading.Thread, threading.Event]] = {}  # id(first lease) ->
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"PartitionLock({self.store!r}, lease={self.lease_seconds:g}s, max_wait={self.max_wait_seconds:g}s)"

    # -- calls that may fail transiently ------------------------------------------------------
    def _patiently(self, what: str, call: Callable[[], T], deadline: float, started: float) -> T:
        """``call()``, retrying transient store errors with backoff until ``deadline``."""
        pause, failures = 0.2, 0
        while True:
            try:
                return call()
            except LockBackendUnavailableError as error:
                failures += 1
                now = time.monotonic()
                if not error.transient or now + pause > deadline:
                    tried = f"tried for {now - started:.1f} s ({failures} failed call(s))" if error.transient else "permanent error"
                    self.log.error("lock %s: store %s unavailable, %s: %s", what, self.store.name, tried, error)
                    raise LockBackendUnavailableError(f"{error} [{what}: {tried}]", transient=error.transient) from error
                self.log.warning("lock %s: store %s answered with a transient error, retrying in %.1f s: %s",
                                 what, self.store.name, pause, error)
                time.sleep(pause)
                pause = min(pause * 2, 5.0)

    # -- acquire ------------------------------------------------------------------------------
    def acquire(self, lock_type: str, game_dates: str | dt.date | Sequence[str | dt.date], operation_id: OperationId,
                run_id: str | None = None, step: str | None = None, *, holder_id: str | None = None) -> list[Lease]:
        """Wait for every date's lock and return the leases in date order, renewed together;
        pair with :meth:`release`. ``operation_id``: a string or a function of the date."""
        validate_lock_type(lock_type)
        dates = normalize_dates(game_dates)
        if not dates:
            return []
        operations = [operation_id(d) if callable(operation_id) else operation_id for d in dates]
        holder_id = holder_id or make_holder_id(run_id, step)
        label = batch_label(lock_type, dates)
        started = time.monotonic()
        deadline = started + self.max_wait_seconds
        attempts = 0
        while True:
            attempts += 1
            before = time.monotonic()
            attempt = self._patiently(label, lambda: self.store.acquire(
                lock_type, dates, holder_id, operations, self.lease_seconds), deadline, started)
            if attempt.acquired:
                return self._acquired(label, attempt, before, started, attempts)
            now = time.monotonic()
            if now >= deadline:
                raise self._timeout(lock_type, dates, now - started, attempts, attempt)
            if attempts == 1:
                first = attempt.blockers[0].describe() if attempt.blockers else "holder unknown"
                self.log.info("lock %s: waiting (up to %.0f s) for operation %s; %d date(s) held, first: %s",
                              label, self.max_wait_seconds, span(operations), len(attempt.blockers), first)
            time.sleep(self._pause(attempt, deadline - now))

    def _pause(self, attempt: Acquisition, remaining: float) -> float:
        pause = self.poll_interval_seconds * random.uniform(0.8, 1.2)
        expiries = [b.expires_at for b in attempt.blockers]
        if expiries and all(e is not None for e in expiries):
            # All or nothing: nothing can be taken before the last blocking lease ends (store clock).
            expires_in = max((e - attempt.store_now).total_seconds() for e in expiries)  # type: ignore[operator]
            if 0 <= expires_in < pause:
                pause = expires_in + min(0.05, self.poll_interval_seconds)
        return max(0.0, min(pause, remaining))

    def _timeout(self, lock_type: str, dates: list[str], waited: float, attempts: int,
                 attempt: Acquisition) -> LockTimeoutError:
        holder = attempt.blockers[0] if attempt.blockers else None
        who = (f"held by {holder.holder_id} for operation {holder.operation_id} (fencing token "
               f"{holder.fencing_token}, acquired {fmt_time(holder.acquired_at)}, expires "
               f"{fmt_time(holder.expires_at)})") if holder else "held by an unknown holder"
        others = [b.game_date for b in attempt.blockers[1:]]
        if others:
            who += f"; {len(others)} more date(s) also held: {', '.join(others[:5])}{', ...' if len(others) > 5 else ''}"
        key = f"{lock_type}_{holder.game_date if holder else dates[0]}"
        batch = f" (one of {batch_label(lock_type, dates)})" if len(dates) > 1 else ""
        message = (f"timed out after {waited:.1f} s ({attempts} attempts) waiting for lock {key}{batch} on "
                   f"{self.store.name}: {who}. If that holder is dead its lease expires at "
                   f"{fmt_time(holder.expires_at if holder else None)}; otherwise investigate it ({OPERATOR_HINT})")
        self.log.error("%s", message)
        return LockTimeoutError(message, lock_type=lock_type, game_dates=dates, waited_seconds=waited,
                                attempts=attempts, blockers=attempt.blockers)

    def _acquired(self, label: str, attempt: Acquisition, before: float, started: float, attempts: int) -> list[Lease]:
        waited = time.monotonic() - started
        # Counted from before the call that set expires_at: runs out no later than the stored lease.
        leases = [Lease(r, local_deadline=before + self.lease_seconds, wait_seconds=waited, attempts=attempts)
                  for r in attempt.records]
        for lease in leases:
            if lease.took_over_from:
                self.log.warning("lock %s: TAKEOVER of an expired lease held by %s, by %s for operation %s",
                                 lease.lock_key, lease.took_over_from, lease.holder_id, lease.operation_id)
        # A single uncontended date is quiet (each event costs a run milliseconds); batches, waits
        # and takeovers are said.
        loud = attempts > 1 or len(leases) > 1 or any(l.took_over_from for l in leases)
        self.log.log(logging.INFO if loud else logging.DEBUG,
                     "lock %s: acquired by %s, tokens %s, on %s after %.2f s and %d attempt(s); lease %.0f s",
                     label, leases[0].holder_id, span(sorted(l.fencing_token for l in leases)), self.store.name,
                     waited, attempts, self.lease_seconds)
        stop = threading.Event()
        thread = threading.Thread(target=self._renew_loop, args=(label, leases, stop), name=f"lock-renewal-{label}",
                                  daemon=True)
        with self._mutex:
            self._renewals[id(leases[0])] = (thread, stop)
        thread.start()
        return leases

    # -- renew --------------------------------------------------------------------------------
    def _renew_loop(self, label: str, leases: list[Lease], stop: threading.Event) -> None:
        """One store call per interval renews every live lease; a refused date is marked lost
        (its ``assert_held`` raises) and the others carry on."""
        interval = self.renew_interval_seconds
        while not stop.wait(interval):
            live = [l for l in leases if not l.released and not l.lost]
            if not live:
                return
            before = time.monotonic()
            try:
                outcomes = self.store.renew(live[0].lock_type, [(l.game_date, l.fencing_token) for l in live],
                                            live[0].holder_id, self.lease_seconds)
            except LockBackendUnavailableError as error:  # retry until the leases run out
                if stop.is_set():
                    return
                remaining = min(l.remaining_seconds() for l in live)
                if remaining <= 0:
                    for lease in live:
                        lease.mark_lost(f"renewals failed until the lease ran out; last error: {error}")
                    self.log.error("lock %s: LOST: renewals failed until the lease ran out: %s", label, error)
                    return
                interval = max(0.05, min(self.renew_interval_seconds, remaining / 4))
                self.log.warning("lock %s: renewal failed (%.1f s of lease left, retrying in %.2f s): %s",
                                 label, remaining, interval, error)
                continue
            for lease, outcome in zip(live, outcomes):
                if isinstance(outcome, LockLostError):
                    lease.mark_lost(f"renewal refused: {outcome}")
                    self.log.error("lock %s: LOST by %s: %s", lease.lock_key, lease.holder_id, outcome)
                else:
                    lease.renewed(outcome, before + self.lease_seconds)
            interval = self.renew_interval_seconds
            self.log.info("lock %s: renewed by %s until %s", label, live[0].holder_id,
                          fmt_time(live[0].expires_at))

    # -- release ------------------------------------------------------------------------------
    def release(self, leases: Sequence[Lease]) -> list[bool]:
        """Stop renewing and release every lease still ours, one store call; per lease whether
        this call released it. Never raises for store trouble (the leases then expire); logs."""
        leases = list(leases)
        with self._mutex:
            renewal = self._renewals.pop(id(leases[0]), None) if leases else None
        if renewal is not None:
            thread, stop = renewal
            stop.set()
            if thread is not threading.current_thread():
                thread.join()
        todo = [l for l in leases if not l.released]
        if not todo:
            return [False] * len(leases)
        for lease in todo:
            lease.released = True
        label = batch_label(todo[0].lock_type, [l.game_date for l in todo])
        try:
            released = self.store.release(todo[0].lock_type, [(l.game_date, l.fencing_token) for l in todo],
                                          todo[0].holder_id)
        except LockBackendUnavailableError as error:
            self.log.error("lock %s: release by %s FAILED, the leases will expire at %s: %s",
                           label, todo[0].holder_id, fmt_time(todo[0].expires_at), error)
            return [False] * len(leases)
        outcome = dict(zip(map(id, todo), released))
        for lease, ok in zip(todo, released):
            if not ok:
                lease.mark_lost("the lock was no longer held by this holder at release")
                self.log.warning("lock %s: not released by %s (token %d): it was no longer ours; left untouched",
                                 lease.lock_key, lease.holder_id, lease.fencing_token)
        self.log.debug("lock %s: released by %s (%d of %d)", label, todo[0].holder_id, sum(released), len(todo))
        return [outcome.get(id(l), False) for l in leases]

    @contextmanager
    def hold(self, lock_type: str, game_dates: str | dt.date | Sequence[str | dt.date], operation_id: OperationId,
             run_id: str | None = None, step: str | None = None) -> Iterator[list[Lease]]:
        """Hold every date's lock for the block (see :meth:`acquire`)."""
        with self.holding(self.acquire(lock_type, game_dates, operation_id, run_id, step)) as leases:
            yield leases

    @contextmanager
    def holding(self, leases: Sequence[Lease]) -> Iterator[list[Lease]]:
        """Release acquired ``leases`` when the block ends; on a normal end raise
        :class:`LockLostError` if one was lost meanwhile (``raise_if_lost_on_exit``)."""
        leases = list(leases)
        body_failed = False
        try:
            yield leases
        except BaseException:
            body_failed = True
            raise
        finally:
            lost = [l for l in leases if l.lost_reason is not None]
            self.release(leases)
            if lost and not body_failed and self.raise_if_lost_on_exit:
                raise LockLostError(f"{len(lost)} of {len(leases)} lock(s) were lost while operation "
                                    f"{lost[0].operation_id} held them, first {lost[0].lock_key} (holder "
                                    f"{lost[0].holder_id}, token {lost[0].fencing_token}): {lost[0].lost_reason}")

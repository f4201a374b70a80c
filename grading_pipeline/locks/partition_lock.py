"""Wait / renew / release policy over a :class:`~.lease.LockBackend`.

``PartitionLock(backend).hold(lock_type, game_date, operation_id, run_id, step)`` is a context
manager: it waits for the lock (polling, up to ``max_wait_seconds``), renews the lease in a
background thread every ``lease_seconds / 3``, and releases it on exit, exception or not.

Failure behaviour (fail closed, nothing silent):

* still held by someone else after ``max_wait_seconds`` -> :class:`LockTimeoutError` naming the
  holder, its operation and its expiry;
* backend unreachable or failing -> :class:`LockBackendUnavailableError` (the caller decides; the
  Dagster resource only proceeds unlocked when explicitly configured to, and says so loudly);
* the lease is lost while held (renewal refused because another holder took over or an operator
  force-released it, or renewals failed until the lease ran out) -> ``lease.assert_held()`` raises
  :class:`LockLostError`; call it right before committing. A body that finishes normally after its
  lease was lost also gets :class:`LockLostError` on exit (``raise_if_lost_on_exit``).

Release and renewal are owner-checked in the backend (holder id + fencing token, compare-and-swap):
a holder that outlived its lease can neither release nor extend its successor's lock.

Batches: ``hold_many(lock_type, game_dates, operation_id, ...)`` holds the locks of several dates
of one lock type with the same semantics (each date keeps its own record, fencing token, owner
checks, takeover and expiry) at the cost of one backend round trip per batch instead of one per
date: all-or-nothing acquisition (if any date is held by someone else nothing is taken on that
attempt, so a batch never sits on some dates while waiting for others: no deadlock, no partial
hold), one renewal thread renewing every date together, one release.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence, Union

from .lease import (
    AcquireAttempt,
    BatchAcquireAttempt,
    Lease,
    LockBackend,
    LockBackendUnavailableError,
    LockLostError,
    LockRecord,
    LockTimeoutError,
    lock_key,
    normalize_game_date,
    validate_lock_type,
)

__all__ = [
    "PartitionLock",
    "make_holder_id",
    "normalize_batch_dates",
    "batch_label",
    "DEFAULT_LOGGER_NAME",
]

DEFAULT_LOGGER_NAME = "grading_pipeline.locks"


def make_holder_id(run_id: str | None = None, step: str | None = None) -> str:
    """Unique per acquisition attempt: ``{run_id|norun}:{step|nostep}:{hostname}:{pid}:{hex}``."""
    return (
        f"{run_id or 'norun'}:{step or 'nostep'}:{socket.gethostname()}:{os.getpid()}:"
        f"{secrets.token_hex(6)}"
    )


def _fmt(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="milliseconds") if value else "unknown"


OperationId = Union[str, Callable[[str], str]]


def normalize_batch_dates(game_dates: Sequence[str | dt.date]) -> list[str]:
    """Normalised, in ascending order (the acquisition order); a repeated date is an error."""
    if isinstance(game_dates, (str, dt.date)):
        raise TypeError("game_dates must be a sequence of dates, not a single date")
    dates = sorted(normalize_game_date(d) for d in game_dates)
    repeated = sorted({a for a, b in zip(dates, dates[1:]) if a == b})
    if repeated:
        raise ValueError(f"game_dates repeat {repeated}: each date can be held once per batch")
    return dates


def batch_label(lock_type: str, dates: Sequence[str]) -> str:
    """``grading 2025-10-21..2025-11-20 (31 dates)``."""
    if not dates:
        return f"{lock_type} (no dates)"
    span = dates[0] if len(dates) == 1 else f"{dates[0]}..{dates[-1]}"
    return f"{lock_type} {span} ({len(dates)} date{'s' if len(dates) != 1 else ''})"


def _span(values: Sequence[Any]) -> str:
    """``a..b`` of the first and last of some values (tokens, operations), or the single one."""
    if not values:
        return "-"
    first, last = values[0], values[-1]
    return str(first) if first == last else f"{first}..{last}"


def _record_date(lock_type: str, record: LockRecord) -> str:
    """A record's date (documents written by the old system may lack ``game_date``)."""
    return record.game_date or record.lock_key[len(lock_type) + 1:]


class _Batch:
    """The leases of one ``acquire_many`` and their single renewal thread."""

    def __init__(self, lock_type: str, holder_id: str, label: str, leases: list[Lease]) -> None:
        self.lock_type = lock_type
        self.holder_id = holder_id
        self.label = label
        self.leases = leases
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.reported_lost: set[int] = set()


class PartitionLock:
    """Blocking lease lock over a backend. Thread-safe; one instance can serve many holds.

    ``max_wait_seconds``: how long to wait for a held lock before :class:`LockTimeoutError`.
    ``poll_interval_seconds``: pause between attempts (jittered +-20%, shortened to wake just after
    the holder's lease expires). ``lease_seconds``: lease length; renewed every
    ``renew_interval_seconds`` (default ``lease_seconds / 3``). ``logger``: a ``logging.Logger``
    or anything with ``info`` / ``warning`` / ``error`` / ``debug`` (e.g. a Dagster logger).
    """

    def __init__(
        self,
        backend: LockBackend,
        *,
        max_wait_seconds: float = 300.0,
        poll_interval_seconds: float = 5.0,
        lease_seconds: float = 300.0,
        renew_interval_seconds: float | None = None,
        logger: Any = None,
        raise_if_lost_on_exit: bool = True,
    ) -> None:
        if lease_seconds <= 0 or poll_interval_seconds <= 0 or max_wait_seconds < 0:
            raise ValueError("lease_seconds and poll_interval_seconds must be > 0, max_wait >= 0")
        self.backend = backend
        self.max_wait_seconds = float(max_wait_seconds)
        self.poll_interval_seconds = float(poll_interval_seconds)
        self.lease_seconds = float(lease_seconds)
        self.renew_interval_seconds = float(renew_interval_seconds or lease_seconds / 3.0)
        if self.renew_interval_seconds >= self.lease_seconds:
            raise ValueError("renew_interval_seconds must be shorter than lease_seconds")
        self.log = logger if logger is not None else logging.getLogger(DEFAULT_LOGGER_NAME)
        self.raise_if_lost_on_exit = raise_if_lost_on_exit
        self._renewers: dict[int, tuple[threading.Thread, threading.Event]] = {}
        self._renewers_lock = threading.Lock()
        self._batches: dict[int, _Batch] = {}  # id(lease) -> its batch

    def __repr__(self) -> str:
        return (
            f"PartitionLock({self.backend!r}, lease={self.lease_seconds:g}s, "
            f"max_wait={self.max_wait_seconds:g}s, poll={self.poll_interval_seconds:g}s)"
        )

    # -- acquire ----------------------------------------------------------------------------
    def acquire(
        self,
        lock_type: str,
        game_date: str | dt.date,
        operation_id: str,
        run_id: str | None = None,
        step: str | None = None,
        *,
        holder_id: str | None = None,
    ) -> Lease:
        """Wait for the lock and return a renewed :class:`Lease`; pair with :meth:`release`."""
        validate_lock_type(lock_type)
        game_date = normalize_game_date(game_date)
        key = lock_key(lock_type, game_date)
        holder_id = holder_id or make_holder_id(run_id, step)
        start = time.monotonic()
        deadline = start + self.max_wait_seconds
        attempts = 0
        while True:
            attempts += 1
            before = time.monotonic()
            try:
                attempt = self.backend.try_acquire(
                    lock_type, game_date, holder_id, operation_id, self.lease_seconds
                )
            except LockBackendUnavailableError as exc:
                self.log.error(
                    "lock %s: backend %s unavailable while acquiring for operation %s "
                    "(holder %s, attempt %d): %s",
                    key, self.backend.name, operation_id, holder_id, attempts, exc,
                )
                raise
            if attempt.acquired:
                return self._acquired(attempt, before, start, attempts, operation_id)
            now = time.monotonic()
            if now >= deadline:
                raise self._timeout(lock_type, game_date, now - start, attempts, attempt.record)
            if attempts == 1:
                self.log.info(
                    "lock %s: waiting (up to %.0f s) for operation %s; %s",
                    key, self.max_wait_seconds, operation_id,
                    attempt.record.describe() if attempt.record else "holder unknown",
                )
            time.sleep(self._pause(attempt, deadline - now))

    def _pause(self, attempt: AcquireAttempt, remaining: float) -> float:
        pause = self.poll_interval_seconds * random.uniform(0.8, 1.2)
        holder = attempt.record
        if holder is not None and holder.expires_at is not None:
            # Durations from the backend's own clock: wake just after the holder's lease ends.
            expires_in = (holder.expires_at - attempt.server_now).total_seconds()
            if 0 <= expires_in < pause:
                pause = expires_in + min(0.05, self.poll_interval_seconds)
        return max(0.0, min(pause, remaining))

    def _timeout(
        self,
        lock_type: str,
        game_date: str,
        waited: float,
        attempts: int,
        holder: LockRecord | None,
        *,
        batch_dates: Sequence[str] = (),
        blockers: Sequence[LockRecord] = (),
    ) -> LockTimeoutError:
        key = lock_key(lock_type, game_date)
        if holder is not None and holder.holder_id is not None:
            who = (
                f"held by {holder.holder_id} for operation {holder.operation_id} "
                f"(fencing token {holder.fencing_token}, acquired {_fmt(holder.acquired_at)}, "
                f"expires {_fmt(holder.expires_at)})"
            )
        else:
            who = "held by an unknown holder"
        if batch_dates:
            key = f"{key} (one of the batch {batch_label(lock_type, batch_dates)})"
            if len(blockers) > 1:
                others = [_record_date(lock_type, b) for b in blockers[1:]]
                shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
                who += f"; {len(others)} more date(s) of the batch also held: {shown}"
        message = (
            f"timed out after {waited:.1f} s ({attempts} attempts) waiting for lock {key} "
            f"on {self.backend.name}: {who}. If that holder is dead its lease expires at "
            f"{_fmt(holder.expires_at if holder else None)}; otherwise investigate it or, if "
            f"certain it is gone, run `python -m grading_pipeline.locks force-release "
            f"{lock_type} {game_date}`"
        )
        self.log.error("%s", message)
        return LockTimeoutError(
            message,
            lock_type=lock_type,
            game_date=game_date,
            waited_seconds=waited,
            attempts=attempts,
            holder=holder,
            blockers=blockers,
            game_dates=batch_dates,
        )

    def _acquired(
        self, attempt: AcquireAttempt, before: float, start: float, attempts: int, operation_id: str
    ) -> Lease:
        record = attempt.record
        assert record is not None and record.holder_id is not None
        took_over = attempt.took_over
        lease = Lease(
            record=record,
            lease_seconds=self.lease_seconds,
            # Counted from before the call that set expires_at: runs out no later than it does.
            local_deadline=before + self.lease_seconds,
            wait_seconds=time.monotonic() - start,
            attempts=attempts,
            took_over_from=took_over.holder_id if took_over else None,
        )
        if took_over is not None:
            self.log.warning(
                "lock %s: TAKEOVER of expired lease held by %s (operation %s, token %s, expired "
                "%s) by %s for operation %s",
                record.lock_key, took_over.holder_id, took_over.operation_id,
                took_over.fencing_token, _fmt(took_over.expires_at), record.holder_id, operation_id,
            )
        # Quiet when uncontended (a range run takes hundreds of locks); loud when it had to wait.
        self.log.log(
            logging.INFO if attempts > 1 or took_over is not None else logging.DEBUG,
            "lock %s: acquired by %s for operation %s (fencing token %d) on %s after %.2f s and "
            "%d attempt(s); lease %.0f s, expires %s",
            record.lock_key, record.holder_id, operation_id, record.fencing_token,
            self.backend.name, lease.wait_seconds, attempts, self.lease_seconds,
            _fmt(record.expires_at),
        )
        self._start_renewal(lease)
        return lease

    # -- renewal ----------------------------------------------------------------------------
    def _start_renewal(self, lease: Lease) -> None:
        stop = threading.Event()
        thread = threading.Thread(
            target=self._renew_loop,
            args=(lease, stop),
            name=f"lock-renewal-{lease.lock_key}",
            daemon=True,
        )
        with self._renewers_lock:
            self._renewers[id(lease)] = (thread, stop)
        thread.start()

    def _stop_renewal(self, lease: Lease) -> None:
        with self._renewers_lock:
            entry = self._renewers.pop(id(lease), None)
        if entry is not None:
            thread, stop = entry
            stop.set()
            if thread is not threading.current_thread():
                thread.join()

    def _renew_loop(self, lease: Lease, stop: threading.Event) -> None:
        interval = self.renew_interval_seconds
        while not stop.wait(interval):
            if lease.lost:
                self.log.error("lock %s: %s", lease.lock_key, lease.lost_reason)
                return
            before = time.monotonic()
            try:
                record = self.backend.renew(
                    lease.lock_type, lease.game_date, lease.holder_id, lease.fencing_token,
                    self.lease_seconds,
                )
            except LockLostError as exc:
                lease._mark_lost(f"renewal refused: {exc}")
                self.log.error(
                    "lock %s: LOST by %s (operation %s, token %d): %s",
                    lease.lock_key, lease.holder_id, lease.operation_id, lease.fencing_token, exc,
                )
                return
            except Exception as exc:  # backend unavailable (or a bug): retry until the lease ends
                if stop.is_set():
                    return
                remaining = lease.remaining_seconds()
                if remaining <= 0:
                    lease._mark_lost(f"renewals failed until the lease ran out; last error: {exc}")
                    self.log.error(
                        "lock %s: LOST by %s (operation %s): renewals failed until the lease ran "
                        "out: %s", lease.lock_key, lease.holder_id, lease.operation_id, exc,
                    )
                    return
                interval = max(0.05, min(self.renew_interval_seconds, remaining / 4))
                self.log.warning(
                    "lock %s: renewal by %s failed (%.1f s of lease left, retrying in %.2f s): %s",
                    lease.lock_key, lease.holder_id, remaining, interval, exc,
                )
                continue
            lease._renewed(record, before + self.lease_seconds)
            interval = self.renew_interval_seconds
            self.log.info(
                "lock %s: renewed by %s (token %d) until %s",
                lease.lock_key, lease.holder_id, lease.fencing_token, _fmt(record.expires_at),
            )

    # -- release ----------------------------------------------------------------------------
    def release(self, lease: Lease) -> bool:
        """Stop renewing and release iff still the owner. Returns whether this call released it.
        Never raises for backend trouble (the lease then simply expires); logs instead."""
        self._stop_renewal(lease)
        if lease.released:
            return False
        lease.released = True
        try:
            released = self.backend.release(
                lease.lock_type, lease.game_date, lease.holder_id, lease.fencing_token,
                version=lease.version, operation_id=lease.operation_id,
            )
        except LockBackendUnavailableError as exc:
            self.log.error(
                "lock %s: release by %s (token %d) FAILED, the lease will expire at %s: %s",
                lease.lock_key, lease.holder_id, lease.fencing_token, _fmt(lease.expires_at), exc,
            )
            return False
        if released:
            self.log.debug(
                "lock %s: released by %s (operation %s, token %d)",
                lease.lock_key, lease.holder_id, lease.operation_id, lease.fencing_token,
            )
        else:
            lease._mark_lost("the lock was no longer held by this holder at release")
            try:
                current, _ = self.backend.get(lease.lock_type, lease.game_date)
                now_held = current.describe() if current else "no record"
            except LockBackendUnavailableError as exc:
                now_held = f"(cannot read it: {exc})"
            self.log.warning(
                "lock %s: not released by %s (token %d): it was no longer ours; left untouched: %s",
                lease.lock_key, lease.holder_id, lease.fencing_token, now_held,
            )
        return released

    # -- context manager --------------------------------------------------------------------
    @contextmanager
    def hold(
        self,
        lock_type: str,
        game_date: str | dt.date,
        operation_id: str,
        run_id: str | None = None,
        step: str | None = None,
    ) -> Iterator[Lease]:
        """Hold the lock for the ``with`` block (see the module docstring)."""
        lease = self.acquire(lock_type, game_date, operation_id, run_id, step)
        with self.holding(lease) as held:
            yield held

    @contextmanager
    def holding(self, lease: Lease) -> Iterator[Lease]:
        """Release an acquired ``lease`` when the block ends (exception or not); on a normal end
        raise :class:`LockLostError` if the lease was lost meanwhile (``raise_if_lost_on_exit``)."""
        body_failed = False
        try:
            yield lease
        except BaseException:
            body_failed = True
            raise
        finally:
            lost_reason = lease.lost_reason
            self.release(lease)
            if lost_reason is not None and not body_failed and self.raise_if_lost_on_exit:
                raise LockLostError(
                    f"lock {lease.lock_key} was lost while operation {lease.operation_id} held "
                    f"it (holder {lease.holder_id}, token {lease.fencing_token}): {lost_reason}"
                )

    # -- batches ------------------------------------------------------------------------------
    def acquire_many(
        self,
        lock_type: str,
        game_dates: Sequence[str | dt.date],
        operation_id: OperationId,
        run_id: str | None = None,
        step: str | None = None,
        *,
        holder_id: str | None = None,
    ) -> list[Lease]:
        """Wait for the locks of every date (all or nothing per attempt) and return their leases
        in date order, renewed together by one thread; pair with :meth:`release_many`.

        ``operation_id``: one for every date, or a function of the ``YYYY-MM-DD`` date. All leases
        share one ``holder_id``, ``wait_seconds`` and ``attempts``; each has its own fencing token.
        Raises :class:`LockTimeoutError` (naming the holder of the first date still held) or
        :class:`LockBackendUnavailableError`; either way nothing is held."""
        validate_lock_type(lock_type)
        dates = normalize_batch_dates(game_dates)
        if not dates:
            return []
        operation_ids = [operation_id(d) if callable(operation_id) else operation_id for d in dates]
        holder_id = holder_id or make_holder_id(run_id, step)
        label = batch_label(lock_type, dates)
        start = time.monotonic()
        deadline = start + self.max_wait_seconds
        attempts = 0
        while True:
            attempts += 1
            before = time.monotonic()
            try:
                attempt = self.backend.try_acquire_many(
                    lock_type, dates, holder_id, operation_ids, self.lease_seconds
                )
            except LockBackendUnavailableError as exc:
                self.log.error(
                    "lock %s: backend %s unavailable while acquiring for operation %s "
                    "(holder %s, attempt %d): %s",
                    label, self.backend.name, _span(operation_ids), holder_id, attempts, exc,
                )
                raise
            if attempt.acquired:
                return self._acquired_many(
                    lock_type, label, attempt, before, start, attempts, operation_ids
                )
            now = time.monotonic()
            first = attempt.blockers[0] if attempt.blockers else None
            if now >= deadline:
                raise self._timeout(
                    lock_type, _record_date(lock_type, first) if first else dates[0],
                    now - start, attempts, first, batch_dates=dates, blockers=attempt.blockers,
                )
            if attempts == 1:
                self.log.info(
                    "lock %s: waiting (up to %.0f s) for operation %s; %d date(s) held, first: %s",
                    label, self.max_wait_seconds, _span(operation_ids), len(attempt.blockers),
                    first.describe() if first else "holder unknown",
                )
            time.sleep(self._pause_many(attempt, deadline - now))

    def _pause_many(self, attempt: BatchAcquireAttempt, remaining: float) -> float:
        pause = self.poll_interval_seconds * random.uniform(0.8, 1.2)
        expiries = [b.expires_at for b in attempt.blockers]
        if attempt.blockers and all(e is not None for e in expiries):
            # Nothing can be taken before the *last* blocking lease ends (all or nothing).
            expires_in = max((e - attempt.server_now).total_seconds() for e in expiries)  # type: ignore[operator]
            if 0 <= expires_in < pause:
                pause = expires_in + min(0.05, self.poll_interval_seconds)
        return max(0.0, min(pause, remaining))

    def _acquired_many(
        self,
        lock_type: str,
        label: str,
        attempt: BatchAcquireAttempt,
        before: float,
        start: float,
        attempts: int,
        operation_ids: list[str],
    ) -> list[Lease]:
        wait_seconds = time.monotonic() - start
        took_over = attempt.took_over or (None,) * len(attempt.records)
        leases: list[Lease] = []
        for record, previous in zip(attempt.records, took_over):
            assert record.holder_id is not None
            leases.append(Lease(
                record=record,
                lease_seconds=self.lease_seconds,
                local_deadline=before + self.lease_seconds,
                wait_seconds=wait_seconds,
                attempts=attempts,
                took_over_from=previous.holder_id if previous else None,
            ))
            if previous is not None:
                self.log.warning(
                    "lock %s: TAKEOVER of expired lease held by %s (operation %s, token %s, "
                    "expired %s) by %s for operation %s",
                    record.lock_key, previous.holder_id, previous.operation_id,
                    previous.fencing_token, _fmt(previous.expires_at), record.holder_id,
                    record.operation_id,
                )
        holder_id = leases[0].holder_id
        self.log.info(
            "lock %s: acquired by %s for operation %s, tokens %s, on %s after %.2f s, %d "
            "attempt(s)%s; lease %.0f s, expires %s",
            label, holder_id, _span(operation_ids), _span(sorted({l.fencing_token for l in leases})),
            self.backend.name, wait_seconds, attempts,
            f", {sum(1 for t in took_over if t)} takeover(s)" if any(took_over) else "",
            self.lease_seconds, _fmt(leases[0].expires_at),
        )
        batch = _Batch(lock_type, holder_id, label, leases)
        batch.thread = threading.Thread(
            target=self._renew_batch_loop, args=(batch,), name=f"lock-renewal-{label}",
            daemon=True,
        )
        with self._renewers_lock:
            for lease in leases:
                self._batches[id(lease)] = batch
        batch.thread.start()
        return leases

    def _stop_batch(self, batch: _Batch) -> None:
        with self._renewers_lock:
            for lease in batch.leases:
                if self._batches.get(id(lease)) is batch:
                    del self._batches[id(lease)]
        batch.stop.set()
        if batch.thread is not None and batch.thread is not threading.current_thread():
            batch.thread.join()

    def _renew_batch_loop(self, batch: _Batch) -> None:
        """Renews every live lease of the batch with one backend call per interval. A date whose
        renewal is refused is marked lost (its ``assert_held`` raises); the others carry on."""
        interval = self.renew_interval_seconds
        while not batch.stop.wait(interval):
            live: list[Lease] = []
            for lease in batch.leases:
                if lease.released:
                    continue
                if lease.lost:
                    if id(lease) not in batch.reported_lost:
                        batch.reported_lost.add(id(lease))
                        self.log.error("lock %s: %s", lease.lock_key, lease.lost_reason)
                    continue
                live.append(lease)
            if not live:
                return
            before = time.monotonic()
            try:
                outcomes = self.backend.renew_many(
                    batch.lock_type, [(l.game_date, l.fencing_token) for l in live],
                    batch.holder_id, self.lease_seconds,
                )
            except Exception as exc:  # backend unavailable (or a bug): retry until the leases end
                if batch.stop.is_set():
                    return
                remaining = min(l.remaining_seconds() for l in live)
                if remaining <= 0:
                    for lease in live:
                        lease._mark_lost(
                            f"renewals failed until the lease ran out; last error: {exc}"
                        )
                        batch.reported_lost.add(id(lease))
                    self.log.error(
                        "lock %s: LOST %d date(s) held by %s: renewals failed until the lease "
                        "ran out: %s", batch.label, len(live), batch.holder_id, exc,
                    )
                    return
                interval = max(0.05, min(self.renew_interval_seconds, remaining / 4))
                self.log.warning(
                    "lock %s: renewal of %d date(s) by %s failed (%.1f s of lease left, retrying "
                    "in %.2f s): %s",
                    batch.label, len(live), batch.holder_id, remaining, interval, exc,
                )
                continue
            renewed: list[Lease] = []
            for lease, outcome in zip(live, outcomes):
                if isinstance(outcome, LockLostError):
                    lease._mark_lost(f"renewal refused: {outcome}")
                    batch.reported_lost.add(id(lease))
                    self.log.error(
                        "lock %s: LOST by %s (operation %s, token %d): %s",
                        lease.lock_key, lease.holder_id, lease.operation_id,
                        lease.fencing_token, outcome,
                    )
                else:
                    lease._renewed(outcome, before + self.lease_seconds)
                    renewed.append(lease)
            interval = self.renew_interval_seconds
            if renewed:
                self.log.info(
                    "lock %s: renewed by %s (%d date(s), tokens %s) until %s",
                    batch.label, batch.holder_id, len(renewed),
                    _span(sorted({l.fencing_token for l in renewed})), _fmt(renewed[0].expires_at),
                )

    def release_many(self, leases: Sequence[Lease]) -> list[bool]:
        """Stop their renewal and release every lease still ours, one backend call per lock type
        and holder (one for a batch). Per lease whether this call released it. Like
        :meth:`release`, never raises for backend trouble (the leases then expire); logs."""
        leases = list(leases)
        with self._renewers_lock:
            batches = {id(b): b for b in (self._batches.get(id(l)) for l in leases) if b}
        for batch in batches.values():
            self._stop_batch(batch)
        for lease in leases:
            self._stop_renewal(lease)  # leases of single holds, if any were passed
        result = {id(lease): False for lease in leases}
        groups: dict[tuple[str, str], list[Lease]] = {}
        for lease in leases:
            if lease.released:
                continue
            lease.released = True
            groups.setdefault((lease.lock_type, lease.holder_id), []).append(lease)
        for (lock_type, holder_id), group in groups.items():
            dates = [l.game_date for l in group]
            label = batch_label(lock_type, dates)
            tokens = _span(sorted({l.fencing_token for l in group}))
            try:
                released = self.backend.release_many(
                    lock_type,
                    [(l.game_date, l.fencing_token, l.version, l.operation_id) for l in group],
                    holder_id,
                )
            except LockBackendUnavailableError as exc:
                self.log.error(
                    "lock %s: release by %s (tokens %s) FAILED, the leases will expire at %s: %s",
                    label, holder_id, tokens, _fmt(group[0].expires_at), exc,
                )
                continue
            for lease, ok in zip(group, released):
                result[id(lease)] = ok
                if ok:
                    continue
                lease._mark_lost("the lock was no longer held by this holder at release")
                try:
                    current, _ = self.backend.get(lease.lock_type, lease.game_date)
                    now_held = current.describe() if current else "no record"
                except LockBackendUnavailableError as exc:
                    now_held = f"(cannot read it: {exc})"
                self.log.warning(
                    "lock %s: not released by %s (token %d): it was no longer ours; left "
                    "untouched: %s",
                    lease.lock_key, lease.holder_id, lease.fencing_token, now_held,
                )
            if any(released):
                self.log.debug(
                    "lock %s: released by %s (%d of %d date(s), operation %s, tokens %s)",
                    label, holder_id, sum(released), len(group),
                    _span([l.operation_id for l in group]), tokens,
                )
        return [result[id(lease)] for lease in leases]

    @contextmanager
    def hold_many(
        self,
        lock_type: str,
        game_dates: Sequence[str | dt.date],
        operation_id: OperationId,
        run_id: str | None = None,
        step: str | None = None,
    ) -> Iterator[list[Lease]]:
        """Hold the locks of every date for the ``with`` block; yields their leases in date order
        (see :meth:`acquire_many`). Released together on exit, exception or not; on a normal end
        raises :class:`LockLostError` if any of them was lost meanwhile."""
        leases = self.acquire_many(lock_type, game_dates, operation_id, run_id, step)
        with self.holding_many(leases) as held:
            yield held

    @contextmanager
    def holding_many(self, leases: Sequence[Lease]) -> Iterator[list[Lease]]:
        """:meth:`holding` for several leases (released in one call)."""
        leases = list(leases)
        body_failed = False
        try:
            yield leases
        except BaseException:
            body_failed = True
            raise
        finally:
            lost = [(l, l.lost_reason) for l in leases if l.lost_reason is not None]
            self.release_many(leases)
            if lost and not body_failed and self.raise_if_lost_on_exit:
                lease, reason = lost[0]
                raise LockLostError(
                    f"{len(lost)} of {len(leases)} lock(s) were lost while held, first "
                    f"{lease.lock_key} (operation {lease.operation_id}, holder {lease.holder_id}, "
                    f"token {lease.fencing_token}): {reason}"
                )

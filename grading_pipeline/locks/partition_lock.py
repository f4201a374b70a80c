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
from typing import Any, Iterator

from .lease import (
    AcquireAttempt,
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

__all__ = ["PartitionLock", "make_holder_id", "DEFAULT_LOGGER_NAME"]

DEFAULT_LOGGER_NAME = "grading_pipeline.locks"


def make_holder_id(run_id: str | None = None, step: str | None = None) -> str:
    """Unique per acquisition attempt: ``{run_id|norun}:{step|nostep}:{hostname}:{pid}:{hex}``."""
    return (
        f"{run_id or 'norun'}:{step or 'nostep'}:{socket.gethostname()}:{os.getpid()}:"
        f"{secrets.token_hex(6)}"
    )


def _fmt(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="milliseconds") if value else "unknown"


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

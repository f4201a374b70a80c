"""Dagster resource over :mod:`grading_pipeline.locks`: one lease lock per (lock_type, game_date).

Thin by design: it builds a backend and a :class:`~grading_pipeline.locks.PartitionLock` from its
config and adds the two deliberate escape hatches:

* ``enabled=False`` (``GRADING_USE_LOCK=false``, the rollback switch): no lock is taken;
  ``hold`` yields an :class:`~grading_pipeline.locks.UnlockedLease` (``locked=False``,
  ``fencing_token=None``) and logs a WARNING every time.
* ``proceed_when_unavailable=True``: if the backend cannot be reached, ``hold`` yields an unlocked
  lease with ``unlocked_reason`` set and logs an ERROR. Off by default: an unreachable backend
  raises :class:`~grading_pipeline.locks.LockBackendUnavailableError` (fail closed).

A timeout (someone else holds the lock past ``max_wait_seconds``) always raises
:class:`~grading_pipeline.locks.LockTimeoutError`; it never proceeds unlocked.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import dagster as dg
from pydantic import Field, PrivateAttr

from grading_pipeline.locks import (
    FirestoreLockBackend,
    Lease,
    LockBackend,
    LockBackendUnavailableError,
    PartitionLock,
    SQLiteLockBackend,
    UnlockedLease,
    make_holder_id,
    normalize_game_date,
)
from grading_pipeline.locks.lease import validate_lock_type
from grading_pipeline.locks.partition_lock import batch_label, normalize_batch_dates

__all__ = ["PartitionLockResource"]

BACKENDS = ("sqlite", "firestore")


def _lock_logger() -> logging.Logger:
    """The lock's log lines, in the run's event log from INFO up: an uncontended acquisition or
    release is DEBUG, and a range run takes hundreds of them (each stored event costs ~2 ms)."""
    logger = dg.get_dagster_logger("partition_lock")
    logger.setLevel(logging.INFO)
    return logger


class PartitionLockResource(dg.ConfigurableResource):
    """Partition lease lock. ``hold(lock_type, game_date, operation_id, run_id, step)`` is a
    context manager yielding a lease (see :meth:`hold`); ``hold_many(lock_type, game_dates, ...)``
    yields the leases of several dates, taken and released in one backend call each."""

    backend: str = Field(default="sqlite", description="Lock store: sqlite | firestore.")
    sqlite_path: str = Field(default="data/locks.sqlite", description="SQLite lock file.")
    firestore_project: Optional[str] = Field(default=None, description="Firestore project id.")
    firestore_database: Optional[str] = Field(default=None, description="Firestore database id.")
    firestore_timeout_seconds: float = Field(
        default=5.0, description="Deadline of each Firestore call, retries included."
    )
    max_wait_seconds: float = Field(default=300.0, description="Wait this long for a held lock.")
    poll_interval_seconds: float = Field(default=5.0, description="Pause between attempts.")
    lease_seconds: float = Field(default=300.0, description="Lease length, renewed every third.")
    enabled: bool = Field(
        default=True, description="False: no locking at all (GRADING_USE_LOCK rollback switch)."
    )
    proceed_when_unavailable: bool = Field(
        default=False,
        description="True: run unlocked (loudly) when the lock backend is unreachable.",
    )

    _lock: Optional[PartitionLock] = PrivateAttr(default=None)
    _build_mutex: Any = PrivateAttr(default_factory=threading.Lock)

    # -- construction -----------------------------------------------------------------------
    def make_backend(self) -> LockBackend:
        kind = (self.backend or "").strip().lower()
        if kind == "sqlite":
            return SQLiteLockBackend(self.sqlite_path)
        if kind == "firestore":
            return FirestoreLockBackend(
                project=self.firestore_project,
                database=self.firestore_database,
                timeout_seconds=self.firestore_timeout_seconds,
            )
        raise ValueError(f"PartitionLockResource.backend must be one of {BACKENDS}, not {self.backend!r}")

    def get_lock(self) -> PartitionLock:
        """The (cached) policy object; built on first use."""
        with self._build_mutex:
            if self._lock is None:
                self._lock = PartitionLock(
                    self.make_backend(),
                    max_wait_seconds=self.max_wait_seconds,
                    poll_interval_seconds=self.poll_interval_seconds,
                    lease_seconds=self.lease_seconds,
                    logger=_lock_logger(),
                )
            return self._lock

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        with self._build_mutex:
            lock, self._lock = self._lock, None
        if lock is not None:
            lock.backend.close()

    # -- use ---------------------------------------------------------------------------------
    @contextmanager
    def hold(
        self,
        lock_type: str,
        game_date: Union[str, dt.date],
        operation_id: str,
        run_id: Optional[str] = None,
        step: Optional[str] = None,
    ) -> Iterator[Union[Lease, UnlockedLease]]:
        """Hold the lock of ``(lock_type, game_date)`` for the block.

        Yields a :class:`Lease` (``locked=True``, ``fencing_token``, ``assert_held()`` ...), or an
        :class:`UnlockedLease` (``locked=False``) when disabled or, with
        ``proceed_when_unavailable``, when the backend is unreachable. Raises
        ``LockTimeoutError`` / ``LockBackendUnavailableError`` / ``LockLostError`` otherwise."""
        validate_lock_type(lock_type)
        date = normalize_game_date(game_date)
        log = _lock_logger()
        if not self.enabled:
            log.warning(
                "partition locking is DISABLED (GRADING_USE_LOCK=false): %s_%s runs WITHOUT a lock "
                "for operation %s",
                lock_type, date, operation_id,
            )
            yield UnlockedLease(
                lock_type=lock_type,
                game_date=date,
                operation_id=operation_id,
                holder_id=make_holder_id(run_id, step),
                unlocked_reason="locking disabled (GRADING_USE_LOCK=false)",
            )
            return
        try:
            lock = self.get_lock()
            lease = lock.acquire(lock_type, date, operation_id, run_id, step)
        except LockBackendUnavailableError as exc:
            if not self.proceed_when_unavailable:
                raise
            log.error(
                "lock backend %s UNAVAILABLE: %s_%s proceeds WITHOUT a lock for operation %s "
                "because proceed_when_unavailable is set: %s",
                self.backend, lock_type, date, operation_id, exc,
            )
            yield UnlockedLease(
                lock_type=lock_type,
                game_date=date,
                operation_id=operation_id,
                holder_id=make_holder_id(run_id, step),
                unlocked_reason=f"lock backend {self.backend} unavailable: {exc}",
            )
            return
        with lock.holding(lease) as held:
            yield held

    @contextmanager
    def hold_many(
        self,
        lock_type: str,
        game_dates: Sequence[Union[str, dt.date]],
        operation_id: Union[str, Callable[[str], str]],
        run_id: Optional[str] = None,
        step: Optional[str] = None,
    ) -> Iterator[list[Union[Lease, UnlockedLease]]]:
        """Hold the locks of every date of ``game_dates`` (one lock type) for the block; yields
        one lease per date, in date order, exactly as :meth:`hold` would for each date, but
        acquired all-or-nothing, renewed and released with one backend call per batch (see
        :meth:`PartitionLock.acquire_many`). ``operation_id``: a string, or a function of the
        ``YYYY-MM-DD`` date. Disabled / unavailable with ``proceed_when_unavailable``: an
        :class:`UnlockedLease` for every date (one log line for the batch)."""
        validate_lock_type(lock_type)
        dates = normalize_batch_dates(game_dates)

        def unlocked(reason: str) -> list[Union[Lease, UnlockedLease]]:
            holder_id = make_holder_id(run_id, step)
            return [
                UnlockedLease(
                    lock_type=lock_type,
                    game_date=d,
                    operation_id=operation_id(d) if callable(operation_id) else operation_id,
                    holder_id=holder_id,
                    unlocked_reason=reason,
                )
                for d in dates
            ]

        log = _lock_logger()
        label = batch_label(lock_type, dates)
        if not self.enabled:
            log.warning(
                "partition locking is DISABLED (GRADING_USE_LOCK=false): %s runs WITHOUT locks",
                label,
            )
            yield unlocked("locking disabled (GRADING_USE_LOCK=false)")
            return
        try:
            lock = self.get_lock()
            leases = lock.acquire_many(lock_type, dates, operation_id, run_id, step)
        except LockBackendUnavailableError as exc:
            if not self.proceed_when_unavailable:
                raise
            log.error(
                "lock backend %s UNAVAILABLE: %s proceeds WITHOUT locks because "
                "proceed_when_unavailable is set: %s",
                self.backend, label, exc,
            )
            yield unlocked(f"lock backend {self.backend} unavailable: {exc}")
            return
        with lock.holding_many(leases) as held:
            yield list(held)

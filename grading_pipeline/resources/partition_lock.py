"""Dagster resource over :mod:`grading_pipeline.locks`: one lease lock per (lock_type, game_date).

Every field left unset (None) takes its value from the environment (:mod:`grading_pipeline.settings`)
when the lock is built, so a run config that sets one field (say ``lease_seconds: 30``) keeps the
environment's store, path and switches for the others.

Two deliberate escape hatches, both logged and recorded in each date's metadata:

* ``enabled=False`` (``GRADING_USE_LOCK=false``, the rollback switch): no lock is taken; the hold
  yields :class:`~grading_pipeline.locks.UnlockedLease` objects (``locked=False``).
* ``proceed_when_unavailable=True``: when the store cannot be reached, the hold yields unlocked
  leases with the reason. Off by default: an unreachable store raises (fail closed).

A timeout (someone else holds a date past the wait budget) always raises; it never proceeds unlocked.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import dagster as dg
from pydantic import Field, PrivateAttr

from grading_pipeline import settings
from grading_pipeline.locks import (
    FirestoreLockStore,
    Lease,
    LockBackendUnavailableError,
    LockStore,
    PartitionLock,
    SQLiteLockStore,
    UnlockedLease,
    make_holder_id,
    normalize_dates,
)
from grading_pipeline.locks.lease import batch_label, validate_lock_type

BACKENDS = ("sqlite", "firestore")


def _lock_logger() -> logging.Logger:
    """The lock's log lines in the run's event log from INFO up: an uncontended acquisition is DEBUG
    (a range run takes hundreds, and each stored event costs milliseconds)."""
    logger = dg.get_dagster_logger("partition_lock")
    logger.setLevel(logging.INFO)
    return logger


class PartitionLockResource(dg.ConfigurableResource):
    """Partition lease lock. ``hold(lock_type, game_dates, operation_id, run_id, step)`` yields one
    lease per date (see :meth:`hold`). Unset fields: from the environment."""

    backend: Optional[str] = Field(default=None, description="Lock store: sqlite | firestore (GRADING_LOCK_BACKEND).")
    sqlite_path: Optional[str] = Field(default=None, description="SQLite lock file (GRADING_LOCK_PATH).")
    firestore_project: Optional[str] = Field(default=None, description="Firestore project (GRADING_FIRESTORE_PROJECT).")
    firestore_database: Optional[str] = Field(default=None, description="Firestore database (GRADING_FIRESTORE_DATABASE).")
    firestore_timeout_seconds: float = Field(default=5.0, description="Deadline of each Firestore call.")
    max_wait_seconds: Optional[float] = Field(
        default=None, description="Wait budget for a held lock or a store with transient errors (GRADING_LOCK_MAX_WAIT_SECONDS).")
    poll_interval_seconds: Optional[float] = Field(default=None, description="Pause between attempts (GRADING_LOCK_POLL_SECONDS).")
    lease_seconds: Optional[float] = Field(default=None, description="Lease length, renewed every third (GRADING_LOCK_LEASE_SECONDS).")
    enabled: Optional[bool] = Field(default=None, description="False: no locking at all (GRADING_USE_LOCK).")
    proceed_when_unavailable: Optional[bool] = Field(
        default=None, description="True: run unlocked, loudly, when the store is unreachable (GRADING_LOCK_PROCEED_WHEN_UNAVAILABLE).")

    _lock: Optional[PartitionLock] = PrivateAttr(default=None)
    _build_mutex: Any = PrivateAttr(default_factory=threading.Lock)

    # -- the effective settings: this resource's fields, else the environment ------------------
    def effective(self) -> dict[str, Any]:
        def pick(value: Any, from_env: Callable[[], Any]) -> Any:
            return from_env() if value is None else value

        return {
            "backend": pick(self.backend, settings.lock_backend).strip().lower(),
            "sqlite_path": pick(self.sqlite_path, settings.lock_path),
            "firestore_project": pick(self.firestore_project, settings.firestore_project),
            "firestore_database": pick(self.firestore_database, settings.firestore_database),
            "max_wait_seconds": pick(self.max_wait_seconds, settings.lock_max_wait_seconds),
            "poll_interval_seconds": pick(self.poll_interval_seconds, settings.lock_poll_seconds),
            "lease_seconds": pick(self.lease_seconds, settings.lock_lease_seconds),
            "enabled": pick(self.enabled, settings.use_lock),
            "proceed_when_unavailable": pick(self.proceed_when_unavailable, settings.proceed_when_lock_unavailable),
        }

    def make_store(self) -> LockStore:
        config = self.effective()
        if config["backend"] == "sqlite":
            return SQLiteLockStore(config["sqlite_path"])
        if config["backend"] == "firestore":
            return FirestoreLockStore(config["firestore_project"], config["firestore_database"],
                                      timeout_seconds=self.firestore_timeout_seconds)
        raise ValueError(f"the lock backend must be one of {BACKENDS}, not {config['backend']!r}")

    def get_lock(self) -> PartitionLock:
        """The (cached) policy object; built on first use."""
        with self._build_mutex:
            if self._lock is None:
                config = self.effective()
                self._lock = PartitionLock(self.make_store(), max_wait_seconds=config["max_wait_seconds"],
                                           poll_interval_seconds=config["poll_interval_seconds"],
                                           lease_seconds=config["lease_seconds"], logger=_lock_logger())
            return self._lock

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        with self._build_mutex:
            lock, self._lock = self._lock, None
        if lock is not None:
            lock.store.close()

    @contextmanager
    def hold(self, lock_type: str, game_dates: Union[str, dt.date, Sequence[Union[str, dt.date]]],
             operation_id: Union[str, Callable[[str], str]], run_id: Optional[str] = None,
             step: Optional[str] = None) -> Iterator[list[Union[Lease, UnlockedLease]]]:
        """Hold the locks of every date (one lock type) for the block: one lease per date in date
        order, taken all or nothing, renewed and released with one store call per batch. Disabled,
        or unreachable with ``proceed_when_unavailable``: an :class:`UnlockedLease` per date.
        Raises ``LockTimeoutError`` / ``LockBackendUnavailableError`` / ``LockLostError`` otherwise."""
        validate_lock_type(lock_type)
        dates = normalize_dates(game_dates)
        config = self.effective()
        log = _lock_logger()
        label = batch_label(lock_type, dates)

        def unlocked(reason: str) -> list[Union[Lease, UnlockedLease]]:
            holder_id = make_holder_id(run_id, step)
            return [UnlockedLease(lock_type, d, operation_id(d) if callable(operation_id) else operation_id,
                                  holder_id, reason) for d in dates]

        if not config["enabled"]:
            log.warning("partition locking is DISABLED (GRADING_USE_LOCK=false): %s runs WITHOUT locks", label)
            yield unlocked("locking disabled (GRADING_USE_LOCK=false)")
            return
        try:
            lock = self.get_lock()
            leases = lock.acquire(lock_type, dates, operation_id, run_id, step)
        except LockBackendUnavailableError as exc:
            if not config["proceed_when_unavailable"]:
                raise
            log.error("lock store %s UNAVAILABLE: %s proceeds WITHOUT locks because proceed_when_unavailable "
                      "is set: %s", config["backend"], label, exc)
            yield unlocked(f"lock backend {config['backend']} unavailable: {exc}")
            return
        with lock.holding(leases) as held:
            yield list(held)

"""Partition lease lock: one lock per (lock_type, game_date), fail-closed, renewed, fenced.

Quick use::

    from grading_pipeline.locks import PartitionLock, SQLiteLockBackend

    lock = PartitionLock(SQLiteLockBackend("data/partition_locks.sqlite"))
    with lock.hold("grading", "2025-01-20", operation_id="grade-2025-01-20", run_id=run_id,
                   step="grade") as lease:
        ...                      # work
        lease.assert_held()      # right before committing; write lease.fencing_token with it

    # Several dates of one lock type: one backend round trip per batch, not per date.
    with lock.hold_many("grading", ["2025-01-20", "2025-01-21"],
                        operation_id=lambda d: f"grade-{d}", run_id=run_id, step="grade") as leases:
        ...                      # leases in date order, each with its own fencing token

Backends: :class:`SQLiteLockBackend` (one file, all processes of one machine) and
:class:`FirestoreLockBackend` (compare-and-swap on documents ``{lock_type}_locks/{lock_type}_{date}``).
Operator tools: :mod:`grading_pipeline.locks.admin`. Dagster: ``grading_pipeline.resources.
partition_lock.PartitionLockResource``.
"""

from .lease import (
    TTL_DELAY,
    AcquireAttempt,
    BatchAcquireAttempt,
    Lease,
    LockBackend,
    LockBackendProtocol,
    LockBackendUnavailableError,
    LockError,
    LockLostError,
    LockRecord,
    LockStatus,
    LockTimeoutError,
    UnlockedLease,
    collection_name,
    lock_key,
    normalize_game_date,
)
from .partition_lock import PartitionLock, make_holder_id
from .sqlite_backend import SQLiteLockBackend
from .firestore_backend import FirestoreLockBackend
from .admin import LockInfo, force_release, list_locks

__all__ = [
    "TTL_DELAY",
    "AcquireAttempt",
    "BatchAcquireAttempt",
    "FirestoreLockBackend",
    "Lease",
    "LockBackend",
    "LockBackendProtocol",
    "LockBackendUnavailableError",
    "LockError",
    "LockInfo",
    "LockLostError",
    "LockRecord",
    "LockStatus",
    "LockTimeoutError",
    "PartitionLock",
    "SQLiteLockBackend",
    "UnlockedLease",
    "collection_name",
    "force_release",
    "list_locks",
    "lock_key",
    "make_holder_id",
    "normalize_game_date",
]

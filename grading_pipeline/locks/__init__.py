"""Partition lease lock: one lock per (lock_type, game_date), fail-closed, renewed, fenced.

The design in three parts: a **lease** (:mod:`.lease`: holder, expiry, fencing token), a **store**
(:mod:`.store`, with :class:`SQLiteLockStore` for one machine and :class:`FirestoreLockStore` for
many), and a **policy** (:mod:`.policy`: wait, renew, take over, release)::

    lock = PartitionLock(SQLiteLockStore("data/locks.sqlite"))
    with lock.hold("grading", ["2025-01-20", "2025-01-21"], operation_id=lambda d: f"grade-{d}",
                   run_id=run_id, step="grade") as leases:
        ...                       # work
        for lease in leases:
            lease.assert_held()   # right before committing; write lease.fencing_token with it

Operators: :mod:`.admin` (``grading-pipeline locks``). Dagster: ``grading_pipeline.resources.
partition_lock.PartitionLockResource``.
"""

from .admin import LockInfo, force_release, list_locks
from .firestore_store import FirestoreLockStore
from .lease import (
    TTL_DELAY,
    Lease,
    LockBackendUnavailableError,
    LockError,
    LockLostError,
    LockRecord,
    LockTimeoutError,
    UnlockedLease,
    collection_name,
    lock_key,
    make_holder_id,
    normalize_dates,
    normalize_game_date,
)
from .policy import PartitionLock
from .sqlite_store import SQLiteLockStore
from .store import Acquisition, LockStore

__all__ = [
    "TTL_DELAY", "Acquisition", "FirestoreLockStore", "Lease", "LockBackendUnavailableError", "LockError",
    "LockInfo", "LockLostError", "LockRecord", "LockStore", "LockTimeoutError", "PartitionLock",
    "SQLiteLockStore", "UnlockedLease", "collection_name", "force_release", "list_locks", "lock_key",
    "make_holder_id", "normalize_dates", "normalize_game_date",
]

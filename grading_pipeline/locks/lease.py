"""Types, errors and the backend interface of the partition lease lock.

One lock exists per ``(lock_type, game_date)``. Its stored state is a :class:`LockRecord`; the
handle a holder gets is a :class:`Lease` (or an :class:`UnlockedLease` when locking was disabled or
deliberately bypassed). Backends (:mod:`.sqlite_backend`, :mod:`.firestore_backend`) implement
:class:`LockBackend` with identical semantics; the wait / renew / release policy lives in
:mod:`.partition_lock`.

Fencing tokens
--------------
Every successful acquisition of a lock stores a new ``fencing_token`` strictly greater than every
token that lock handed out before. A writer passes its token along with its writes so that a
holder whose lease ran out (and was taken over) can be refused by the store it writes to.

The lock document/row is never deleted on release (it is marked released) so the counter survives.
It can still disappear: a Firestore TTL policy on ``ttl_expire_at`` deletes documents a week after
their last lease expired (that is how crashed runs' documents get cleaned up), and an operator may
delete one by hand. The counter is therefore *seeded from the backend's clock* when a lock
document is created: the first token is the creation time in microseconds since the epoch, and each
later acquisition adds one. A document re-created after a deletion starts from the current time,
which is far above anything the deleted document handed out (it would need more than a million
acquisitions per second, or a clock that went back by more than the TTL delay, to collide).
Tradeoff: tokens are large (about 1.8e15, within int64 and within the 2**53 exact-float range),
monotonicity across a TTL deletion rests on the clock moving forwards, and a TTL deletion is safe
only because ``ttl_expire_at`` is set far past ``expires_at``: no live lease, and no run that could
still hold a stale token in a write it is about to commit, survives until its document is deleted.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, Sequence, runtime_checkable

__all__ = [
    "AcquireAttempt",
    "BatchAcquireAttempt",
    "LockBackend",
    "LockBackendProtocol",
    "LockBackendUnavailableError",
    "LockError",
    "LockLostError",
    "LockRecord",
    "LockStatus",
    "LockTimeoutError",
    "Lease",
    "UnlockedLease",
    "TTL_DELAY",
    "lock_key",
    "collection_name",
    "normalize_game_date",
    "validate_lock_type",
    "initial_fencing_token",
    "check_renewable",
]

#: How long after a lease's expiry its document may be deleted by the Firestore TTL policy.
TTL_DELAY = dt.timedelta(days=7)

LockStatus = Literal["held", "expired", "released"]

_LOCK_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class LockError(Exception):
    """Base class of every partition-lock error. Never caught and ignored by this package."""


class LockTimeoutError(LockError):
    """The lock stayed held by someone else for longer than ``max_wait_seconds``."""

    def __init__(
        self,
        message: str,
        *,
        lock_type: str,
        game_date: str,
        waited_seconds: float,
        attempts: int,
        holder: LockRecord | None,
        blockers: Sequence[LockRecord] = (),
        game_dates: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.lock_type = lock_type
        self.game_date = game_date
        self.waited_seconds = waited_seconds
        self.attempts = attempts
        self.holder = holder
        #: Batch waits (``hold_many``): every date's live holder at the last attempt (``holder``
        #: is the first of them, ``game_date`` its date) and the dates that were asked for.
        self.blockers: list[LockRecord] = list(blockers) if blockers else ([holder] if holder else [])
        self.game_dates: list[str] = list(game_dates) if game_dates else [game_date]
        self.holder_id = holder.holder_id if holder else None
        self.holder_operation_id = holder.operation_id if holder else None
        self.holder_expires_at = holder.expires_at if holder else None


class LockLostError(LockError):
    """This holder no longer owns the lock: renewal failed, the lease ran out, or another holder
    (or an operator's force-release) replaced it. Stop before committing anything."""


class LockBackendUnavailableError(LockError):
    """The lock backend could not be reached or answered with an error. Fail closed: nothing may
    proceed as if it held the lock."""


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def validate_lock_type(lock_type: str) -> str:
    """A lock type is a lower-case identifier (it becomes a Firestore collection name)."""
    if not isinstance(lock_type, str) or not _LOCK_TYPE_RE.match(lock_type):
        raise ValueError(
            f"invalid lock_type {lock_type!r}: expected a lower-case identifier such as 'grading'"
        )
    return lock_type


def normalize_game_date(game_date: str | dt.date) -> str:
    """``YYYY-MM-DD`` for a date, a datetime, or an ISO date string; anything else is an error."""
    if isinstance(game_date, dt.datetime):
        return game_date.date().isoformat()
    if isinstance(game_date, dt.date):
        return game_date.isoformat()
    if isinstance(game_date, str):
        try:
            return dt.date.fromisoformat(game_date.strip()).isoformat()
        except ValueError:
            pass
    raise ValueError(f"invalid game_date {game_date!r}: expected a date or 'YYYY-MM-DD'")


def lock_key(lock_type: str, game_date: str | dt.date) -> str:
    """The document id / row key of a lock: ``{lock_type}_{game_date}`` (as the old system)."""
    return f"{validate_lock_type(lock_type)}_{normalize_game_date(game_date)}"


def collection_name(lock_type: str) -> str:
    """The Firestore collection of a lock type: ``{lock_type}_locks`` (as the old system)."""
    return f"{validate_lock_type(lock_type)}_locks"


def initial_fencing_token(now: dt.datetime) -> int:
    """First token of a newly created lock document: microseconds since the epoch (see module
    docstring: keeps tokens increasing when a document is deleted by TTL and re-created)."""
    delta = now.astimezone(dt.timezone.utc) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    return delta // dt.timedelta(microseconds=1)


def utc(value: Any) -> dt.datetime | None:
    """A plain tz-aware UTC ``datetime`` (drops Firestore's DatetimeWithNanoseconds subclass);
    an ISO string is parsed; anything else (None, a foreign type) gives None."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    value = value.astimezone(dt.timezone.utc)
    return dt.datetime(
        value.year, value.month, value.day, value.hour, value.minute, value.second,
        value.microsecond, tzinfo=dt.timezone.utc,
    )


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockRecord:
    """The stored state of one lock (one Firestore document / one SQLite row).

    ``holder_id`` is None once the lock was released (or force-released); ``last_holder_id`` /
    ``last_operation_id`` then keep who held it. ``version`` is the backend's compare-and-swap
    token (Firestore ``update_time``, SQLite row version); it is not a stored field.
    """

    lock_type: str
    game_date: str
    lock_key: str
    holder_id: str | None
    operation_id: str | None
    fencing_token: int
    acquired_at: dt.datetime | None
    expires_at: dt.datetime | None
    ttl_expire_at: dt.datetime | None = None
    lease_seconds: float | None = None
    renewed_at: dt.datetime | None = None
    renewal_count: int = 0
    released_at: dt.datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None
    took_over_from: str | None = None
    last_holder_id: str | None = None
    last_operation_id: str | None = None
    version: Any = field(default=None, compare=False)

    def status(self, now: dt.datetime) -> LockStatus:
        """``released`` (no holder), ``expired`` (holder's lease ran out at or before ``now``),
        else ``held``. ``now`` must come from the same clock as ``expires_at`` (the backend's)."""
        if self.holder_id is None:
            return "released"
        if self.expires_at is None or self.expires_at <= now:
            return "expired"
        return "held"

    def is_free(self, now: dt.datetime) -> bool:
        return self.status(now) != "held"

    def describe(self) -> str:
        if self.holder_id is None:
            return (
                f"{self.lock_key} released at {_fmt(self.released_at)} "
                f"(last holder {self.last_holder_id}, operation {self.last_operation_id}, "
                f"fencing token {self.fencing_token})"
            )
        return (
            f"{self.lock_key} held by {self.holder_id} for operation {self.operation_id} "
            f"(fencing token {self.fencing_token}, acquired {_fmt(self.acquired_at)}, "
            f"expires {_fmt(self.expires_at)})"
        )

    def as_dict(self) -> dict[str, Any]:
        """The stored fields (no ``version``)."""
        return {
            "lock_type": self.lock_type,
            "game_date": self.game_date,
            "lock_key": self.lock_key,
            "holder_id": self.holder_id,
            "operation_id": self.operation_id,
            "fencing_token": self.fencing_token,
            "acquired_at": self.acquired_at,
            "expires_at": self.expires_at,
            "ttl_expire_at": self.ttl_expire_at,
            "lease_seconds": self.lease_seconds,
            "renewed_at": self.renewed_at,
            "renewal_count": self.renewal_count,
            "released_at": self.released_at,
            "released_by": self.released_by,
            "release_reason": self.release_reason,
            "took_over_from": self.took_over_from,
            "last_holder_id": self.last_holder_id,
            "last_operation_id": self.last_operation_id,
        }

    def with_version(self, version: Any) -> LockRecord:
        return replace(self, version=version)


def _fmt(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="milliseconds") if value else "never"


@dataclass(frozen=True)
class AcquireAttempt:
    """Outcome of one non-blocking acquisition attempt.

    acquired: the caller now holds the lock; ``record`` is its new state (with the new token).
    Not acquired: ``record`` is the current (live) holder's state.
    ``took_over``: when acquired over an *expired* holder, that holder's record, else None.
    ``server_now``: the backend clock's time at the attempt's read (to reason about expiry).
    """

    acquired: bool
    record: LockRecord | None
    server_now: dt.datetime
    took_over: LockRecord | None = None


@dataclass(frozen=True)
class BatchAcquireAttempt:
    """Outcome of one non-blocking, all-or-nothing attempt on several dates of one lock type.

    acquired: the caller now holds *every* date; ``records`` are their new states (date order,
    each with its new token) and ``took_over`` the expired holder each replaced (or None).
    Not acquired: the caller holds *none* of them; ``blockers`` are the live holders of the dates
    that were held by someone else (date order; may be empty when the attempt only lost races).
    ``server_now``: the backend clock's time at the attempt's read.
    """

    acquired: bool
    records: tuple[LockRecord, ...]
    server_now: dt.datetime
    took_over: tuple[LockRecord | None, ...] = ()
    blockers: tuple[LockRecord, ...] = ()


def check_renewable(
    current: LockRecord | None, key: str, holder_id: str, fencing_token: int, now: dt.datetime
) -> None:
    """Shared by the backends: raise LockLostError unless (holder, token) holds a live lease."""
    if current is None:
        raise LockLostError(f"lock {key} no longer exists (deleted); {holder_id} lost it")
    if current.holder_id != holder_id or current.fencing_token != fencing_token:
        if current.holder_id is None:
            raise LockLostError(
                f"lock {key} was released by {current.released_by} "
                f"({current.release_reason}); {holder_id} (token {fencing_token}) lost it"
            )
        raise LockLostError(
            f"lock {key} is now held by {current.holder_id} (operation {current.operation_id}, "
            f"token {current.fencing_token}); {holder_id} (token {fencing_token}) lost it"
        )
    if current.expires_at is None or current.expires_at <= now:
        raise LockLostError(
            f"lease of {key} held by {holder_id} (token {fencing_token}) already expired at "
            f"{current.expires_at}"
        )


# --------------------------------------------------------------------------------------------
# Backend interface
# --------------------------------------------------------------------------------------------


@runtime_checkable
class LockBackendProtocol(Protocol):
    name: str

    def try_acquire(
        self, lock_type: str, game_date: str, holder_id: str, operation_id: str, lease_seconds: float
    ) -> AcquireAttempt: ...

    def renew(
        self, lock_type: str, game_date: str, holder_id: str, fencing_token: int, lease_seconds: float
    ) -> LockRecord: ...

    def release(
        self,
        lock_type: str,
        game_date: str,
        holder_id: str,
        fencing_token: int,
        version: Any = None,
        operation_id: str | None = None,
    ) -> bool: ...

    def try_acquire_many(
        self,
        lock_type: str,
        game_dates: Sequence[str],
        holder_id: str,
        operation_ids: Sequence[str],
        lease_seconds: float,
    ) -> BatchAcquireAttempt: ...

    def renew_many(
        self,
        lock_type: str,
        leases: Sequence[tuple[str, int]],
        holder_id: str,
        lease_seconds: float,
    ) -> list[LockRecord | LockLostError]: ...

    def release_many(
        self,
        lock_type: str,
        leases: Sequence[tuple[str, int, Any, str | None]],
        holder_id: str,
    ) -> list[bool]: ...

    def get(self, lock_type: str, game_date: str) -> tuple[LockRecord | None, dt.datetime]: ...

    def list_records(self, lock_type: str | None = None) -> tuple[list[LockRecord], dt.datetime]: ...

    def force_release(self, lock_type: str, game_date: str, released_by: str) -> LockRecord | None: ...

    def close(self) -> None: ...


class LockBackend(ABC):
    """Storage of lock records with atomic, owner-checked transitions. Identical semantics in every
    implementation; all times come from the backend's clock (Firestore: the server's).

    Every method raises :class:`LockBackendUnavailableError` when the store cannot be reached or
    answers with an unexpected error; none returns a made-up answer instead.
    """

    name: str = "abstract"

    @abstractmethod
    def try_acquire(
        self, lock_type: str, game_date: str, holder_id: str, operation_id: str, lease_seconds: float
    ) -> AcquireAttempt:
        """Take the lock if it is absent, released or expired (never wait). On success store
        ``holder_id`` / ``operation_id``, a new fencing token (previous + 1, or a clock seed for a
        new document), ``acquired_at`` = now, ``expires_at`` = now + lease, ``ttl_expire_at`` =
        ``expires_at`` + :data:`TTL_DELAY`."""

    @abstractmethod
    def renew(
        self, lock_type: str, game_date: str, holder_id: str, fencing_token: int, lease_seconds: float
    ) -> LockRecord:
        """Push ``expires_at`` to now + lease iff ``holder_id`` and ``fencing_token`` still own the
        lock *and its lease has not run out*; raise :class:`LockLostError` otherwise."""

    @abstractmethod
    def release(
        self,
        lock_type: str,
        game_date: str,
        holder_id: str,
        fencing_token: int,
        version: Any = None,
        operation_id: str | None = None,
    ) -> bool:
        """Mark the lock released iff ``holder_id`` and ``fencing_token`` still own it. Returns
        False (changing nothing) when someone else holds it or it was already released. ``version``
        (a compare-and-swap hint from the holder's last write) and ``operation_id`` (kept as
        ``last_operation_id``) are optional; with them a backend may skip its read."""

    @abstractmethod
    def get(self, lock_type: str, game_date: str) -> tuple[LockRecord | None, dt.datetime]:
        """The stored record (None when there is none) and the backend's current time."""

    @abstractmethod
    def list_records(self, lock_type: str | None = None) -> tuple[list[LockRecord], dt.datetime]:
        """Every stored record (of one lock type, or of all) and the backend's current time."""

    @abstractmethod
    def force_release(self, lock_type: str, game_date: str, released_by: str) -> LockRecord | None:
        """Operator action: remove the current holder (held or expired) keeping the fencing
        counter. Returns the removed holder's record, None when there was no holder."""

    # -- batches (several dates of one lock type) ---------------------------------------------
    # The backends override these with one transaction / one atomic batch write each. The
    # defaults below (for other implementations) keep the semantics with one call per date.

    def try_acquire_many(
        self,
        lock_type: str,
        game_dates: Sequence[str],
        holder_id: str,
        operation_ids: Sequence[str],
        lease_seconds: float,
    ) -> BatchAcquireAttempt:
        """All or nothing: take every date's lock (each absent, released or expired: as
        :meth:`try_acquire`, each with its own new fencing token) or none of them. ``game_dates``
        are distinct normalised dates in ascending order, ``operation_ids`` one per date."""
        taken: list[AcquireAttempt] = []
        for game_date, operation_id in zip(game_dates, operation_ids):
            attempt = self.try_acquire(lock_type, game_date, holder_id, operation_id, lease_seconds)
            if not attempt.acquired:
                for done in taken:
                    assert done.record is not None
                    self.release(lock_type, done.record.game_date, holder_id,
                                 done.record.fencing_token, version=done.record.version,
                                 operation_id=done.record.operation_id)
                return BatchAcquireAttempt(
                    acquired=False, records=(), server_now=attempt.server_now,
                    blockers=(attempt.record,) if attempt.record is not None else (),
                )
            taken.append(attempt)
        return BatchAcquireAttempt(
            acquired=True,
            records=tuple(a.record for a in taken if a.record is not None),
            server_now=taken[0].server_now if taken else dt.datetime.now(dt.timezone.utc),
            took_over=tuple(a.took_over for a in taken),
        )

    def renew_many(
        self,
        lock_type: str,
        leases: Sequence[tuple[str, int]],
        holder_id: str,
        lease_seconds: float,
    ) -> list[LockRecord | LockLostError]:
        """Renew each ``(game_date, fencing_token)`` as :meth:`renew` would; per date, the new
        record or the :class:`LockLostError` saying why that date is no longer ours (the others
        are renewed regardless). Backend trouble raises :class:`LockBackendUnavailableError`."""
        out: list[LockRecord | LockLostError] = []
        for game_date, token in leases:
            try:
                out.append(self.renew(lock_type, game_date, holder_id, token, lease_seconds))
            except LockLostError as exc:
                out.append(exc)
        return out

    def release_many(
        self,
        lock_type: str,
        leases: Sequence[tuple[str, int, Any, str | None]],
        holder_id: str,
    ) -> list[bool]:
        """Release each ``(game_date, fencing_token, version, operation_id)`` as :meth:`release`
        would (owner-checked); per date whether this call released it."""
        return [
            self.release(lock_type, game_date, holder_id, token, version=version,
                         operation_id=operation_id)
            for game_date, token, version, operation_id in leases
        ]

    def close(self) -> None:  # pragma: no cover - default no-op
        """Release client resources."""


# --------------------------------------------------------------------------------------------
# Leases (what a holder gets)
# --------------------------------------------------------------------------------------------


class Lease:
    """A held lock. Thread-safe: the renewal thread updates it while the holder reads it.

    ``assert_held()`` raises :class:`LockLostError` once renewal failed or the lease ran out by
    this process's monotonic clock (counted conservatively from *before* the backend call that
    set the expiry, so it runs out no later than the stored ``expires_at``). Call it right before
    any commit, and pass ``fencing_token`` along with the write.
    """

    locked: bool = True
    unlocked_reason: str | None = None

    def __init__(
        self,
        *,
        record: LockRecord,
        lease_seconds: float,
        local_deadline: float,
        wait_seconds: float,
        attempts: int,
        took_over_from: str | None,
    ) -> None:
        assert record.holder_id is not None
        self._mutex = threading.Lock()
        self.lock_type: str = record.lock_type
        self.game_date: str = record.game_date
        self.lock_key: str = record.lock_key
        self.holder_id: str = record.holder_id
        self.operation_id: str = record.operation_id or ""
        self.fencing_token: int = record.fencing_token
        self.acquired_at: dt.datetime | None = record.acquired_at
        self.expires_at: dt.datetime | None = record.expires_at
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds
        self.attempts = attempts
        self.took_over_from = took_over_from
        self.renewals = 0
        self.released = False
        self._record = record
        self._local_deadline = local_deadline
        self._lost_reason: str | None = None

    # -- state updated by the policy --------------------------------------------------------
    def _renewed(self, record: LockRecord, local_deadline: float) -> None:
        with self._mutex:
            self._record = record
            self.expires_at = record.expires_at
            self._local_deadline = local_deadline
            self.renewals += 1

    def _mark_lost(self, reason: str) -> None:
        with self._mutex:
            if self._lost_reason is None:
                self._lost_reason = reason

    @property
    def record(self) -> LockRecord:
        with self._mutex:
            return self._record

    @property
    def version(self) -> Any:
        with self._mutex:
            return self._record.version

    # -- what holders use -------------------------------------------------------------------
    @property
    def lost(self) -> bool:
        return self.lost_reason is not None

    @property
    def lost_reason(self) -> str | None:
        with self._mutex:
            if self._lost_reason is None and time.monotonic() >= self._local_deadline:
                self._lost_reason = (
                    f"lease of {self.lock_key} (token {self.fencing_token}) ran out at "
                    f"{_fmt(self.expires_at)} without a successful renewal"
                )
            return self._lost_reason

    def remaining_seconds(self) -> float:
        """Seconds left on the lease by the local (conservative) clock; 0 when lost."""
        if self.lost:
            return 0.0
        with self._mutex:
            return max(0.0, self._local_deadline - time.monotonic())

    def assert_held(self) -> None:
        reason = self.lost_reason
        if reason is not None:
            raise LockLostError(
                f"lock {self.lock_key} is no longer held by {self.holder_id} "
                f"(operation {self.operation_id}, fencing token {self.fencing_token}): {reason}"
            )
        if self.released:
            raise LockLostError(f"lock {self.lock_key} was already released by {self.holder_id}")

    def __repr__(self) -> str:
        return (
            f"Lease({self.lock_key!r}, holder={self.holder_id!r}, operation={self.operation_id!r}, "
            f"token={self.fencing_token}, expires={_fmt(self.expires_at)}, lost={self.lost})"
        )


class UnlockedLease:
    """What ``hold`` yields when no lock is taken: locking disabled (the GRADING_USE_LOCK
    rollback switch) or the backend unreachable with ``proceed_when_unavailable``. Same attributes
    as :class:`Lease`; ``locked`` is False, ``fencing_token`` None, ``assert_held()`` a no-op."""

    locked = False
    fencing_token = None
    acquired_at = None
    expires_at = None
    took_over_from = None
    lost = False
    lost_reason = None
    renewals = 0
    released = False
    attempts = 0

    def __init__(
        self,
        *,
        lock_type: str,
        game_date: str,
        operation_id: str,
        holder_id: str,
        unlocked_reason: str,
        wait_seconds: float = 0.0,
        attempts: int = 0,
    ) -> None:
        self.lock_type = lock_type
        self.game_date = game_date
        self.lock_key = f"{lock_type}_{game_date}"
        self.operation_id = operation_id
        self.holder_id = holder_id
        self.unlocked_reason = unlocked_reason
        self.wait_seconds = wait_seconds
        self.attempts = attempts

    def assert_held(self) -> None:
        """Nothing to check: the caller chose to run without the lock."""

    def remaining_seconds(self) -> float:
        return float("inf")

    def __repr__(self) -> str:
        return f"UnlockedLease({self.lock_key!r}, reason={self.unlocked_reason!r})"

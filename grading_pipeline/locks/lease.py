"""The lease: what a lock store keeps per (lock_type, game_date), and what a holder is handed.

A lease is a holder, an expiry and a fencing token. Every acquisition stores a token strictly
greater than the lock's previous one *and* at least the store's clock in microseconds
(:func:`next_token`), so tokens keep increasing even when the record is lost (a Firestore TTL
deletion, an operator's delete) or when runs switch between lock stores (another SQLite file,
another Firestore database): the warehouse's fence ledger is the final judge, and refuses any
token older than one it has recorded. Tokens are about 1.8e15, within int64 and exact in floats.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import socket
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Sequence

#: How long after a lease's expiry its record may be deleted (Firestore TTL policy).
TTL_DELAY = dt.timedelta(days=7)
LockStatus = Literal["held", "expired", "released"]
_LOCK_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class LockError(Exception):
    """Base class of every partition-lock error. Never caught and ignored by this package."""


class LockLostError(LockError):
    """This holder no longer owns the lock (renewal refused, lease ran out, taken over or
    force-released). Stop before committing anything."""


class LockBackendUnavailableError(LockError):
    """The lock store could not be reached or answered with an error: fail closed.
    ``transient``: worth retrying (a deadline, 503, a lost race); else permanent (bad credentials,
    a path that cannot be a lock file)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class LockTimeoutError(LockError):
    """Some date stayed held by someone else for longer than the wait budget. ``blockers``: the
    live holders at the last attempt; ``holder`` the first of them."""

    def __init__(self, message: str, *, lock_type: str, game_dates: Sequence[str], waited_seconds: float,
                 attempts: int, blockers: Sequence[LockRecord]) -> None:
        super().__init__(message)
        self.lock_type, self.game_dates = lock_type, list(game_dates)
        self.waited_seconds, self.attempts, self.blockers = waited_seconds, attempts, list(blockers)
        self.holder = self.blockers[0] if self.blockers else None
        self.game_date = self.holder.game_date if self.holder else self.game_dates[0]
        self.holder_id = self.holder.holder_id if self.holder else None
        self.holder_operation_id = self.holder.operation_id if self.holder else None
        self.holder_expires_at = self.holder.expires_at if self.holder else None


def validate_lock_type(lock_type: str) -> str:
    """A lock type is a lower-case identifier (it becomes a Firestore collection name)."""
    if not isinstance(lock_type, str) or not _LOCK_TYPE.match(lock_type):
        raise ValueError(f"invalid lock_type {lock_type!r}: expected a lower-case identifier such as 'grading'")
    return lock_type


def normalize_game_date(game_date: str | dt.date) -> str:
    """``YYYY-MM-DD`` for a date, a datetime or an ISO date string; anything else is an error."""
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


def normalize_dates(game_dates: str | dt.date | Sequence[str | dt.date]) -> list[str]:
    """One date or several, normalised and in ascending order (the acquisition order)."""
    dates = sorted(normalize_game_date(d) for d in
                   ([game_dates] if isinstance(game_dates, (str, dt.date)) else game_dates))
    repeated = sorted({a for a, b in zip(dates, dates[1:]) if a == b})
    if repeated:
        raise ValueError(f"game_dates repeat {repeated}: each date can be held once per batch")
    return dates


def lock_key(lock_type: str, game_date: str | dt.date) -> str:
    """The document id / row key of a lock: ``{lock_type}_{game_date}`` (as the old system)."""
    return f"{validate_lock_type(lock_type)}_{normalize_game_date(game_date)}"


def collection_name(lock_type: str) -> str:
    """The Firestore collection of a lock type: ``{lock_type}_locks`` (as the old system)."""
    return f"{validate_lock_type(lock_type)}_locks"


def make_holder_id(run_id: str | None = None, step: str | None = None) -> str:
    """Unique per acquisition: ``{run_id|norun}:{step|nostep}:{hostname}:{pid}:{hex}``."""
    return f"{run_id or 'norun'}:{step or 'nostep'}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"


def next_token(previous: int, now: dt.datetime) -> int:
    """previous + 1, or the store clock in microseconds when that is larger (see module doc)."""
    return max(previous + 1, (now - _EPOCH) // dt.timedelta(microseconds=1))


def fmt_time(value: dt.datetime | None) -> str:
    return value.isoformat(timespec="milliseconds") if value else "never"


def span(values: Sequence[Any]) -> str:
    """``first..last`` of some values, or the single one."""
    if not values:
        return "-"
    return str(values[0]) if values[0] == values[-1] else f"{values[0]}..{values[-1]}"


def batch_label(lock_type: str, dates: Sequence[str]) -> str:
    """``grading 2025-10-21..2025-11-20 (31 dates)``."""
    return f"{lock_type} {span(list(dates))} ({len(dates)} date{'s' if len(dates) != 1 else ''})"


@dataclass(frozen=True)
class LockRecord:
    """The stored state of one lock (one Firestore document / one SQLite row). ``holder_id`` is
    None once released; ``last_holder_id`` / ``last_operation_id`` keep who held it. ``version`` is
    the store's compare-and-swap token (Firestore update_time, SQLite row version), not a field."""

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
        """``now`` must come from the store's clock, as ``expires_at`` did."""
        if self.holder_id is None:
            return "released"
        return "held" if self.expires_at is not None and self.expires_at > now else "expired"

    def as_dict(self) -> dict[str, Any]:
        """The stored fields (no ``version``)."""
        fields = asdict(self)
        del fields["version"]
        return fields

    def describe(self) -> str:
        if self.holder_id is None:
            return (f"{self.lock_key} released at {fmt_time(self.released_at)} (last holder {self.last_holder_id}, "
                    f"operation {self.last_operation_id}, fencing token {self.fencing_token})")
        return (f"{self.lock_key} held by {self.holder_id} for operation {self.operation_id} (fencing token "
                f"{self.fencing_token}, acquired {fmt_time(self.acquired_at)}, expires {fmt_time(self.expires_at)})")

    # The transitions, written once for every store (each persists them with a compare-and-swap).
    def taken_by(self, holder_id: str, operation_id: str, lease_seconds: float, now: dt.datetime) -> LockRecord:
        ours = self.holder_id == holder_id  # our own earlier write landed although its answer was lost
        expires = now + dt.timedelta(seconds=lease_seconds)
        return replace(
            self, holder_id=holder_id, operation_id=operation_id, fencing_token=next_token(self.fencing_token, now),
            acquired_at=now, expires_at=expires, ttl_expire_at=expires + TTL_DELAY, lease_seconds=float(lease_seconds),
            renewed_at=None, renewal_count=0, released_at=None, released_by=None, release_reason=None,
            took_over_from=None if ours else self.holder_id,
            last_holder_id=self.holder_id or self.last_holder_id,
            last_operation_id=self.operation_id or self.last_operation_id,
        )

    def renewed(self, lease_seconds: float, now: dt.datetime) -> LockRecord:
        expires = now + dt.timedelta(seconds=lease_seconds)
        return replace(self, expires_at=expires, ttl_expire_at=expires + TTL_DELAY, renewed_at=now,
                       renewal_count=self.renewal_count + 1, lease_seconds=float(lease_seconds))

    def released(self, by: str, reason: str, now: dt.datetime) -> LockRecord:
        return replace(self, holder_id=None, operation_id=None, released_at=now, released_by=by,
                       release_reason=reason, last_holder_id=self.holder_id, last_operation_id=self.operation_id)

    def lost_by(self, holder_id: str, token: int, now: dt.datetime) -> LockLostError | None:
        """Why (holder, token) does not hold a live lease on this record, or None when it does."""
        who = f"{holder_id} (token {token})"
        if self.holder_id == holder_id and self.fencing_token == token:
            if self.status(now) == "held":
                return None
            return LockLostError(f"lease of {self.lock_key} held by {who} already expired at {fmt_time(self.expires_at)}")
        if self.holder_id is None:
            return LockLostError(f"lock {self.lock_key} was released by {self.released_by} ({self.release_reason}); "
                                 f"{who} lost it")
        return LockLostError(f"lock {self.lock_key} is now held by {self.holder_id} (operation {self.operation_id}, "
                             f"token {self.fencing_token}); {who} lost it")


def empty_record(lock_type: str, game_date: str) -> LockRecord:
    """The state of a lock that was never taken (no record stored)."""
    return LockRecord(lock_type, game_date, lock_key(lock_type, game_date), None, None, 0, None, None)


class Lease:
    """A held lock. Thread-safe: the renewal thread updates it while the holder reads it.

    ``assert_held()`` raises :class:`LockLostError` once renewal failed or the lease ran out by this
    process's monotonic clock, counted from *before* the store call that set the expiry (so it runs
    out no later than the stored one). Call it right before a commit; write ``fencing_token`` with it.
    """

    locked = True
    unlocked_reason: str | None = None

    def __init__(self, record: LockRecord, *, local_deadline: float, wait_seconds: float, attempts: int) -> None:
        self._mutex = threading.Lock()
        self._record = record
        self._local_deadline = local_deadline
        self._lost_reason: str | None = None
        self.lock_type, self.game_date, self.lock_key = record.lock_type, record.game_date, record.lock_key
        self.holder_id: str = record.holder_id or ""
        self.operation_id: str = record.operation_id or ""
        self.fencing_token = record.fencing_token
        self.acquired_at = record.acquired_at
        self.took_over_from = record.took_over_from
        self.wait_seconds, self.attempts = wait_seconds, attempts
        self.renewals = 0
        self.released = False

    @property
    def expires_at(self) -> dt.datetime | None:
        with self._mutex:
            return self._record.expires_at

    def renewed(self, record: LockRecord, local_deadline: float) -> None:
        with self._mutex:
            self._record, self._local_deadline = record, local_deadline
            self.renewals += 1

    def mark_lost(self, reason: str) -> None:
        with self._mutex:
            self._lost_reason = self._lost_reason or reason

    @property
    def lost_reason(self) -> str | None:
        with self._mutex:
            if self._lost_reason is None and time.monotonic() >= self._local_deadline:
                self._lost_reason = (f"lease of {self.lock_key} (token {self.fencing_token}) ran out at "
                                     f"{fmt_time(self._record.expires_at)} without a successful renewal")
            return self._lost_reason

    @property
    def lost(self) -> bool:
        return self.lost_reason is not None

    def remaining_seconds(self) -> float:
        """Seconds left by the local (conservative) clock; 0 when lost."""
        if self.lost:
            return 0.0
        with self._mutex:
            return max(0.0, self._local_deadline - time.monotonic())

    def assert_held(self) -> None:
        reason = self.lost_reason or ("already released" if self.released else None)
        if reason is not None:
            raise LockLostError(f"lock {self.lock_key} is no longer held by {self.holder_id} (operation "
                                f"{self.operation_id}, fencing token {self.fencing_token}): {reason}")

    def __repr__(self) -> str:
        return f"Lease({self.lock_key!r}, holder={self.holder_id!r}, token={self.fencing_token}, lost={self.lost})"


class UnlockedLease:
    """What a hold yields when no lock is taken: locking disabled (GRADING_USE_LOCK=false) or the
    store unreachable with ``proceed_when_unavailable``. ``locked`` is False, ``fencing_token``
    None, ``assert_held()`` a no-op."""

    locked = False
    fencing_token = None
    acquired_at = expires_at = took_over_from = lost_reason = None
    lost = released = False
    renewals = attempts = 0
    wait_seconds = 0.0

    def __init__(self, lock_type: str, game_date: str, operation_id: str, holder_id: str, unlocked_reason: str) -> None:
        self.lock_type, self.game_date, self.lock_key = lock_type, game_date, f"{lock_type}_{game_date}"
        self.operation_id, self.holder_id, self.unlocked_reason = operation_id, holder_id, unlocked_reason

    def assert_held(self) -> None:
        """Nothing to check: the caller chose to run without the lock."""

    def remaining_seconds(self) -> float:
        return float("inf")

    def __repr__(self) -> str:
        return f"UnlockedLease({self.lock_key!r}, reason={self.unlocked_reason!r})"

"""The lock store: where leases live. One interface; every transition written once, here.

A store implements three primitives: read the records of some dates of one lock type with the
store's clock (:meth:`LockStore._read`), write a set of changed records all-or-nothing, each
conditional on the version it was read at (:meth:`LockStore._write`, raising :class:`Conflict`
when anyone wrote one of them since), and list records. Acquire, renew, release and
force-release are read-decide-write loops over them, so SQLite and Firestore behave alike. A
single date is a batch of one.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence, TypeVar

from .lease import (
    LockBackendUnavailableError,
    LockLostError,
    LockRecord,
    empty_record,
    normalize_dates,
    validate_lock_type,
)

T = TypeVar("T")
# Compare-and-swap rounds before a call reports a transient failure (the policy then retries).
CAS_ATTEMPTS = 8


class Conflict(Exception):
    """A conditional write lost a race: someone wrote one of the records since it was read."""


@dataclass(frozen=True)
class Acquisition:
    """One all-or-nothing attempt. Acquired: ``records`` are the new leases (date order). Not
    acquired: nothing was taken; ``blockers`` are the live holders of other people's dates."""

    acquired: bool
    records: tuple[LockRecord, ...]
    blockers: tuple[LockRecord, ...]
    store_now: dt.datetime


class LockStore(ABC):
    """Lock records with owner-checked, atomic transitions. All times come from the store's clock.
    Every method raises :class:`LockBackendUnavailableError` when the store cannot answer."""

    name = "abstract"

    @abstractmethod
    def _read(self, lock_type: str, dates: Sequence[str]) -> tuple[dict[str, LockRecord], dt.datetime]:
        """The stored records of ``dates`` (absent ones omitted) and the store's current time."""

    @abstractmethod
    def _write(self, changes: Sequence[tuple[LockRecord, bool]]) -> list[Any]:
        """Store every ``(record, exists)`` or none: an absent one created, an existing one replaced
        only if still at ``record.version``. Returns the new versions; raises Conflict."""

    @abstractmethod
    def records(self, lock_type: str | None = None) -> tuple[list[LockRecord], dt.datetime]:
        """Every stored record (of one lock type, or all) and the store's current time."""

    def close(self) -> None:
        """Release client resources."""

    # -- the transitions ----------------------------------------------------------------------
    def _transact(self, lock_type: str, dates: Sequence[str], what: str,
                  decide: Callable[[dict[str, LockRecord], dt.datetime], tuple[list[tuple[LockRecord, bool]], Callable[[list[LockRecord]], T]]]) -> T:
        validate_lock_type(lock_type)
        for _ in range(CAS_ATTEMPTS):
            current, now = self._read(lock_type, dates)
            changes, finish = decide(current, now)
            if not changes:
                return finish([])
            try:
                versions = self._write(changes)
            except Conflict:
                continue  # someone wrote one of them since our read: nothing was written, decide again
            return finish([replace(record, version=v) for (record, _), v in zip(changes, versions)])
        raise LockBackendUnavailableError(
            f"{self.name}: {what} kept losing compare-and-swap races ({CAS_ATTEMPTS} attempts)", transient=True)

    def acquire(self, lock_type: str, game_dates: Sequence[str], holder_id: str,
                operation_ids: Sequence[str], lease_seconds: float) -> Acquisition:
        """Take every date (absent, released, expired, or already ours) or none of them."""
        dates = normalize_dates(game_dates)
        if len(operation_ids) != len(dates):
            raise ValueError("one operation_id per game_date")

        def decide(current: dict[str, LockRecord], now: dt.datetime):
            blockers = tuple(r for d in dates if (r := current.get(d)) is not None
                             and r.holder_id != holder_id and r.status(now) == "held")
            if blockers:
                return [], lambda _: Acquisition(False, (), blockers, now)
            changes = [(self._record_of(current, lock_type, d).taken_by(holder_id, op, lease_seconds, now), d in current)
                       for d, op in zip(dates, operation_ids)]
            return changes, lambda written: Acquisition(True, tuple(written), (), now)

        return self._transact(lock_type, dates, f"acquisition of {len(dates)} {lock_type} lock(s)", decide)

    def renew(self, lock_type: str, leases: Sequence[tuple[str, int]], holder_id: str,
              lease_seconds: float) -> list[LockRecord | LockLostError]:
        """Per ``(date, token)``: the renewed record, or the LockLostError saying why it is not ours."""
        dates = [d for d, _ in leases]

        def decide(current: dict[str, LockRecord], now: dt.datetime):
            outcomes: list[LockRecord | LockLostError | None] = []
            changes = []
            for date, token in leases:
                lost = self._record_of(current, lock_type, date).lost_by(holder_id, token, now)
                outcomes.append(lost)
                if lost is None:
                    changes.append((current[date].renewed(lease_seconds, now), True))
            return changes, lambda written: _fill(outcomes, written)

        return self._transact(lock_type, dates, f"renewal of {len(dates)} {lock_type} lock(s)", decide)

    def release(self, lock_type: str, leases: Sequence[tuple[str, int]], holder_id: str) -> list[bool]:
        """Release each ``(date, token)`` still ours; per date whether it is released by us now."""
        dates = [d for d, _ in leases]

        def decide(current: dict[str, LockRecord], now: dt.datetime):
            outcomes: list[bool | None] = []
            changes = []
            for date, token in leases:
                record = self._record_of(current, lock_type, date)
                if record.holder_id == holder_id and record.fencing_token == token:
                    changes.append((record.released(holder_id, "released", now), True))
                    outcomes.append(None)
                else:  # someone else's now, or released by our own earlier write whose answer was lost
                    outcomes.append(record.holder_id is None and record.released_by == holder_id
                                    and record.fencing_token == token)
            return changes, lambda written: [True if o is None else o for o in outcomes]

        return self._transact(lock_type, dates, f"release of {len(dates)} {lock_type} lock(s)", decide)

    def force_release(self, lock_type: str, game_date: str, released_by: str) -> LockRecord | None:
        """Operator action: remove the holder (held or expired), keeping the fencing counter.
        Returns the removed holder's record, None when nobody held it."""
        (date,) = normalize_dates(game_date)

        def decide(current: dict[str, LockRecord], now: dt.datetime):
            record = current.get(date)
            if record is None or record.holder_id is None:
                return [], lambda _: None
            return [(record.released(released_by, "force_released", now), True)], lambda _: record

        return self._transact(lock_type, [date], f"force-release of {lock_type}_{date}", decide)

    def get(self, lock_type: str, game_date: str) -> tuple[LockRecord | None, dt.datetime]:
        (date,) = normalize_dates(game_date)
        current, now = self._read(validate_lock_type(lock_type), [date])
        return current.get(date), now

    @staticmethod
    def _record_of(current: dict[str, LockRecord], lock_type: str, date: str) -> LockRecord:
        return current.get(date) or empty_record(lock_type, date)


def _fill(outcomes: list[Any], written: list[LockRecord]) -> list[Any]:
    """The outcomes with each ``None`` slot replaced, in order, by the record written for it."""
    records = iter(written)
    return [next(records) if o is None else o for o in outcomes]

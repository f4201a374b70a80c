"""Operator tools: who holds which partition lock, and removing a holder by hand. The command
line is ``grading-pipeline locks list | release LOCK_TYPE GAME_DATE``.

A force-release keeps the record (and so its fencing counter): the next holder gets a larger token,
so a still-running holder that was removed is fenced out of its writes.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import socket
from dataclasses import dataclass
from typing import Any

from .lease import LockRecord, LockStatus, normalize_game_date, validate_lock_type
from .store import LockStore


@dataclass(frozen=True)
class LockInfo:
    """One lock as an operator sees it: its record and its status as of ``checked_at`` (the
    store's clock)."""

    record: LockRecord
    status: LockStatus
    checked_at: dt.datetime

    def __getattr__(self, name: str) -> Any:  # the record's fields: info.holder_id, info.game_date ...
        return getattr(self.record, name)

    def as_dict(self) -> dict[str, Any]:
        out = {"status": self.status, **self.record.as_dict(), "checked_at": self.checked_at}
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in out.items()}


def list_locks(store: LockStore, lock_type: str | None = None) -> list[LockInfo]:
    """Every lock record (of one lock type, or all), with its status."""
    records, now = store.records(lock_type)
    return [LockInfo(r, r.status(now), now) for r in records]


def operator_id() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"admin:{user}@{socket.gethostname()}:{os.getpid()}"


def force_release(store: LockStore, lock_type: str, game_date: str | dt.date,
                  released_by: str | None = None) -> LockRecord | None:
    """Remove the current holder of a lock (held or expired), keeping the fencing counter.
    Returns the removed holder's record, or None when nobody held it."""
    return store.force_release(validate_lock_type(lock_type), normalize_game_date(game_date),
                               released_by or operator_id())

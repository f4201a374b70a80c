"""Operator tools: see who holds which partition lock, and remove a holder by hand.

Python::

    from grading_pipeline.locks import admin, SQLiteLockBackend
    for row in admin.list_locks(SQLiteLockBackend("data/locks.sqlite")):
        print(row.status, row.lock_key, row.holder_id)

Command line::

    python -m grading_pipeline.locks --backend sqlite --sqlite-path data/locks.sqlite list
    python -m grading_pipeline.locks --backend firestore --firestore-project my-project \\
        force-release grading 2025-01-20

(defaults from GRADING_LOCK_BACKEND, GRADING_LOCK_PATH, GRADING_FIRESTORE_PROJECT or
GOOGLE_CLOUD_PROJECT, GRADING_FIRESTORE_DATABASE).

``force_release`` keeps the document (and so its fencing counter): the next holder gets a larger
token, so a still-running holder that was removed is fenced out of its writes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import socket
from dataclasses import dataclass
from typing import Any, Sequence

from .lease import LockBackend, LockRecord, LockStatus, normalize_game_date, validate_lock_type

__all__ = ["LockInfo", "list_locks", "force_release", "main"]


@dataclass(frozen=True)
class LockInfo:
    """One lock as an operator sees it. ``status``: held / expired / released (as of
    ``checked_at``, the backend's clock)."""

    status: LockStatus
    lock_type: str
    game_date: str
    lock_key: str
    holder_id: str | None
    operation_id: str | None
    fencing_token: int
    acquired_at: dt.datetime | None
    expires_at: dt.datetime | None
    released_at: dt.datetime | None
    release_reason: str | None
    last_holder_id: str | None
    last_operation_id: str | None
    checked_at: dt.datetime
    record: LockRecord

    @classmethod
    def from_record(cls, record: LockRecord, now: dt.datetime) -> LockInfo:
        return cls(
            status=record.status(now),
            lock_type=record.lock_type,
            game_date=record.game_date,
            lock_key=record.lock_key,
            holder_id=record.holder_id,
            operation_id=record.operation_id,
            fencing_token=record.fencing_token,
            acquired_at=record.acquired_at,
            expires_at=record.expires_at,
            released_at=record.released_at,
            release_reason=record.release_reason,
            last_holder_id=record.last_holder_id,
            last_operation_id=record.last_operation_id,
            checked_at=now,
            record=record,
        )

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "record"}
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in out.items()}


def list_locks(backend: LockBackend, lock_type: str | None = None) -> list[LockInfo]:
    """Every lock record (of one lock type, or all), with its status."""
    if lock_type is not None:
        validate_lock_type(lock_type)
    records, now = backend.list_records(lock_type)
    return [LockInfo.from_record(r, now) for r in records]


def _operator() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "unknown"
    return f"admin:{user}@{socket.gethostname()}:{os.getpid()}"


def force_release(
    backend: LockBackend,
    lock_type: str,
    game_date: str | dt.date,
    released_by: str | None = None,
) -> LockRecord | None:
    """Remove the current holder of a lock (held or expired), keeping the fencing counter.
    Returns the removed holder's record, or None when nobody held it."""
    validate_lock_type(lock_type)
    return backend.force_release(lock_type, normalize_game_date(game_date), released_by or _operator())


def _backend_from_args(args: argparse.Namespace) -> LockBackend:
    if args.backend == "sqlite":
        from .sqlite_backend import SQLiteLockBackend

        return SQLiteLockBackend(args.sqlite_path)
    from .firestore_backend import FirestoreLockBackend

    return FirestoreLockBackend(args.firestore_project, args.firestore_database)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading_pipeline.locks")
    parser.add_argument("--backend", choices=("sqlite", "firestore"),
                        default=os.environ.get("GRADING_LOCK_BACKEND", "sqlite"))
    parser.add_argument("--sqlite-path",
                        default=os.environ.get("GRADING_LOCK_PATH", os.path.join("data", "locks.sqlite")))
    parser.add_argument("--firestore-project", default=os.environ.get("GRADING_FIRESTORE_PROJECT")
                        or os.environ.get("GOOGLE_CLOUD_PROJECT"))
    parser.add_argument("--firestore-database", default=os.environ.get("GRADING_FIRESTORE_DATABASE"))
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list locks and their status")
    p_list.add_argument("--lock-type")
    p_list.add_argument("--json", action="store_true")
    p_force = sub.add_parser("force-release", help="remove the holder of one lock")
    p_force.add_argument("lock_type")
    p_force.add_argument("game_date")
    args = parser.parse_args(argv)
    backend = _backend_from_args(args)
    try:
        if args.command == "list":
            rows = list_locks(backend, args.lock_type)
            if args.json:
                print(json.dumps([r.as_dict() for r in rows], indent=2))
            else:
                for r in rows:
                    print(f"{r.status:9} {r.record.describe()}")
            return 0
        removed = force_release(backend, args.lock_type, args.game_date)
        if removed is None:
            print(f"{args.lock_type}_{args.game_date}: nobody held it; nothing changed")
        else:
            print(f"force-released: {removed.describe()}")
        return 0
    finally:
        backend.close()

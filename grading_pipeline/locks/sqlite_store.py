"""The embedded lock store: one SQLite file shared by every process of one machine.

A conditional write is one ``BEGIN IMMEDIATE`` transaction (WAL mode, busy timeout) whose
updates match the version they were read at. Records are never deleted by the lock (release
marks them released), so fencing tokens keep increasing; :meth:`purge_ttl_expired` plays
Firestore's TTL policy.

The clock cannot jump. Leases are durations, so they are measured on ``CLOCK_BOOTTIME`` (shared by
every process of the machine, never stepped by NTP, counting suspend), offset by the wall clock
read once per boot and kept in the file: ``now = wall_at_boot + boottime``. A wall-clock step
(NTP, an operator) neither lengthens nor shortens a lease. After a reboot the offset is read
afresh, so times stay close to wall time; every holder died with the old boot anyway. Where
``CLOCK_BOOTTIME`` does not exist (not Linux) the wall clock is used, and a step moves expiries.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import astuple, fields
from pathlib import Path
from typing import Any, Iterator, Sequence

from .lease import LockBackendUnavailableError, LockRecord, validate_lock_type
from .store import Conflict, LockStore

_COLUMNS = tuple(f.name for f in fields(LockRecord) if f.name != "version")
_TIMES = {"acquired_at", "expires_at", "ttl_expire_at", "renewed_at", "released_at"}
_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS partition_locks (
        {', '.join(f'{c} {"REAL" if c in _TIMES or c == "lease_seconds" else "INTEGER" if c in ("fencing_token", "renewal_count") else "TEXT"}' for c in _COLUMNS)},
        version INTEGER NOT NULL, PRIMARY KEY (lock_type, game_date), UNIQUE (lock_key))""",
    "CREATE TABLE IF NOT EXISTS lock_clock (boot_id TEXT PRIMARY KEY, wall_at_boot REAL NOT NULL)",
)


def _boot() -> tuple[str, float] | None:
    """This boot's id and the seconds since it, or None where the platform has neither."""
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        return boot_id, time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, AttributeError):
        return None


def _seconds(value: dt.datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _datetime(value: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc) if value is not None else None


class SQLiteLockStore(LockStore):
    """``path``: the lock file (its folder is created). ``busy_timeout_seconds``: how long a write
    waits for another process's transaction before failing (transiently)."""

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_seconds: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout_seconds = busy_timeout_seconds
        self._ready = False
        self._wall_at_boot: float | None = None

    def __repr__(self) -> str:
        return f"SQLiteLockStore({str(self.path)!r})"

    def _unavailable(self, error: BaseException, doing: str) -> LockBackendUnavailableError:
        transient = isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))
        return LockBackendUnavailableError(f"SQLite lock store {self.path}: {doing}: {error}", transient=transient)

    def _connect(self) -> sqlite3.Connection:
        try:
            if not self._ready:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=self.busy_timeout_seconds, isolation_level=None)
        except (sqlite3.Error, OSError) as error:
            raise self._unavailable(error, "cannot be opened") from error
        deadline = time.monotonic() + self.busy_timeout_seconds
        while not self._ready:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                for statement in _SCHEMA:
                    conn.execute(statement)
                self._ready = True
            except sqlite3.OperationalError as error:
                # A new file's switch to WAL answers "locked" at once while another process does it too.
                if "locked" in str(error) and time.monotonic() < deadline:
                    time.sleep(0.01 + random.random() * 0.04)
                    continue
                conn.close()
                raise self._unavailable(error, "is not usable") from error
            except sqlite3.Error as error:
                conn.close()
                raise self._unavailable(error, "is not usable") from error
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    @contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        try:
            with closing(self._connect()) as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.Error as error:
            raise self._unavailable(error, doing) from error

    def _now(self, conn: sqlite3.Connection) -> dt.datetime:
        boot = _boot()
        if boot is None:
            return dt.datetime.now(dt.timezone.utc)
        boot_id, since_boot = boot
        if self._wall_at_boot is None:
            conn.execute("INSERT OR IGNORE INTO lock_clock VALUES (?, ?)", (boot_id, time.time() - since_boot))
            (self._wall_at_boot,) = conn.execute("SELECT wall_at_boot FROM lock_clock WHERE boot_id = ?", (boot_id,)).fetchone()
        return dt.datetime.fromtimestamp(self._wall_at_boot + since_boot, tz=dt.timezone.utc)

    @staticmethod
    def _record(row: Sequence[Any]) -> LockRecord:
        values = dict(zip(_COLUMNS + ("version",), row))
        for name in _TIMES:
            values[name] = _datetime(values[name])
        return LockRecord(**values)

    def _select(self, where: str = "", params: Sequence[Any] = ()) -> tuple[list[LockRecord], dt.datetime]:
        try:
            with closing(self._connect()) as conn:
                rows = conn.execute(f"SELECT {', '.join(_COLUMNS)}, version FROM partition_locks {where} "
                                    "ORDER BY lock_type, game_date", params).fetchall()
                return [self._record(row) for row in rows], self._now(conn)
        except sqlite3.Error as error:
            raise self._unavailable(error, "read failed") from error

    def _read(self, lock_type: str, dates: Sequence[str]) -> tuple[dict[str, LockRecord], dt.datetime]:
        found: dict[str, LockRecord] = {}
        now = None
        for i in range(0, max(len(dates), 1), 500):  # SQLite bounds the parameters of one statement
            chunk = list(dates[i:i + 500])
            records, now = self._select(f"WHERE lock_type = ? AND game_date IN ({', '.join('?' * len(chunk))})",
                                        (lock_type, *chunk))
            found.update((r.game_date, r) for r in records)
        assert now is not None
        return found, now

    def _write(self, changes: Sequence[tuple[LockRecord, bool]]) -> list[Any]:
        versions = []
        with self._transaction("write failed") as conn:
            for record, exists in changes:
                values = astuple(record)[:len(_COLUMNS)]
                values = tuple(_seconds(v) if isinstance(v, dt.datetime) else v for v in values)
                if not exists:
                    try:
                        conn.execute(f"INSERT INTO partition_locks ({', '.join(_COLUMNS)}, version) "
                                     f"VALUES ({', '.join('?' * len(_COLUMNS))}, 1)", values)
                    except sqlite3.IntegrityError:
                        raise Conflict(record.lock_key) from None
                    versions.append(1)
                    continue
                cursor = conn.execute(
                    f"UPDATE partition_locks SET {', '.join(f'{c} = ?' for c in _COLUMNS)}, version = version + 1 "
                    "WHERE lock_type = ? AND game_date = ? AND version = ?",
                    (*values, record.lock_type, record.game_date, record.version))
                if cursor.rowcount != 1:
                    raise Conflict(record.lock_key)
                versions.append(int(record.version) + 1)
        return versions

    def records(self, lock_type: str | None = None) -> tuple[list[LockRecord], dt.datetime]:
        if lock_type is None:
            return self._select()
        return self._select("WHERE lock_type = ?", (validate_lock_type(lock_type),))

    def purge_ttl_expired(self) -> int:
        """Delete the records whose ``ttl_expire_at`` passed (what Firestore's TTL policy does)."""
        with self._transaction("purge failed") as conn:
            now = self._now(conn).timestamp()
            return conn.execute("DELETE FROM partition_locks WHERE ttl_expire_at < ?", (now,)).rowcount

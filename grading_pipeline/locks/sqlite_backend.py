"""Embedded lock backend: one SQLite file shared by every process on the machine.

Each operation is one short ``BEGIN IMMEDIATE`` transaction (the write lock is taken before the
read, so read-check-write is atomic across processes), in WAL mode with a busy timeout; a batch of
dates (``try_acquire_many`` / ``renew_many`` / ``release_many``) is one such transaction. Times come
from this machine's wall clock, which every process using the file shares. Rows are never deleted
by the lock itself (release marks them released), so fencing tokens keep increasing;
:meth:`SQLiteLockBackend.purge_ttl_expired` plays the part of Firestore's TTL policy.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from .lease import (
    TTL_DELAY,
    AcquireAttempt,
    BatchAcquireAttempt,
    check_renewable,
    LockBackend,
    LockBackendUnavailableError,
    LockLostError,
    LockRecord,
    initial_fencing_token,
    lock_key,
    normalize_game_date,
    validate_lock_type,
)

__all__ = ["SQLiteLockBackend"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS partition_locks (
    lock_type         TEXT    NOT NULL,
    game_date         TEXT    NOT NULL,
    lock_key          TEXT    NOT NULL UNIQUE,
    holder_id         TEXT,
    operation_id      TEXT,
    fencing_token     INTEGER NOT NULL,
    acquired_at       REAL,
    expires_at        REAL,
    ttl_expire_at     REAL,
    lease_seconds     REAL,
    renewed_at        REAL,
    renewal_count     INTEGER NOT NULL DEFAULT 0,
    released_at       REAL,
    released_by       TEXT,
    release_reason    TEXT,
    took_over_from    TEXT,
    last_holder_id    TEXT,
    last_operation_id TEXT,
    version           INTEGER NOT NULL,
    PRIMARY KEY (lock_type, game_date)
)
"""

_COLUMNS = (
    "lock_type", "game_date", "lock_key", "holder_id", "operation_id", "fencing_token",
    "acquired_at", "expires_at", "ttl_expire_at", "lease_seconds", "renewed_at", "renewal_count",
    "released_at", "released_by", "release_reason", "took_over_from", "last_holder_id",
    "last_operation_id", "version",
)
_TIME_COLUMNS = {"acquired_at", "expires_at", "ttl_expire_at", "renewed_at", "released_at"}


def _to_dt(value: float | None) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.fromtimestamp(value, tz=dt.timezone.utc)


class SQLiteLockBackend(LockBackend):
    """Lock records in one SQLite file, safe across threads and processes of one machine.

    ``path``: the database file (its directory is created). ``busy_timeout_seconds``: how long an
    operation waits for another process's write transaction before failing with
    :class:`LockBackendUnavailableError`.
    """

    name = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_seconds: float = 10.0) -> None:
        self.path = Path(path)
        self.busy_timeout_seconds = busy_timeout_seconds
        self._initialised = False

    def __repr__(self) -> str:
        return f"SQLiteLockBackend({str(self.path)!r})"

    # -- plumbing ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        try:
            if not self._initialised:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(self.path), timeout=self.busy_timeout_seconds, isolation_level=None
            )
        except (sqlite3.Error, OSError) as exc:
            raise LockBackendUnavailableError(
                f"SQLite lock store {self.path} cannot be opened: {exc}"
            ) from exc
        deadline = time.monotonic() + self.busy_timeout_seconds
        while True:
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_seconds * 1000)}")
                if not self._initialised:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute(_SCHEMA)
                    self._initialised = True
                conn.execute("PRAGMA synchronous = NORMAL")
                return conn
            except sqlite3.OperationalError as exc:
                # Switching a new file to WAL needs it to itself, and SQLite answers "locked" at
                # once (no busy handler) while another process is doing the same: retry briefly.
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.01 + random.random() * 0.04)
                    continue
                conn.close()
                raise LockBackendUnavailableError(f"SQLite lock store {self.path} is not usable: {exc}") from exc
            except sqlite3.Error as exc:
                conn.close()
                raise LockBackendUnavailableError(f"SQLite lock store {self.path} is not usable: {exc}") from exc

    @contextmanager
    def _write_txn(self) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction: committed on success, rolled back on any error."""
        conn = self._connect()
        try:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise LockBackendUnavailableError(
                    f"SQLite lock store {self.path}: cannot start a write transaction "
                    f"within {self.busy_timeout_seconds:.0f} s: {exc}"
                ) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise
        except sqlite3.Error as exc:
            raise LockBackendUnavailableError(f"SQLite lock store {self.path}: {exc}") from exc
        finally:
            conn.close()

    @staticmethod
    def _now() -> float:
        return time.time()

    @staticmethod
    def _row_to_record(row: sqlite3.Row | tuple[Any, ...] | None) -> LockRecord | None:
        if row is None:
            return None
        values = dict(zip(_COLUMNS, row))
        for name in _TIME_COLUMNS:
            values[name] = _to_dt(values[name])
        version = values.pop("version")
        return LockRecord(**values, version=version)

    def _select(self, conn: sqlite3.Connection, lock_type: str, game_date: str) -> LockRecord | None:
        row = conn.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM partition_locks WHERE lock_type = ? AND game_date = ?",
            (lock_type, game_date),
        ).fetchone()
        return self._row_to_record(row)

    def _select_many(
        self, conn: sqlite3.Connection, lock_type: str, game_dates: Sequence[str]
    ) -> dict[str, LockRecord]:
        found: dict[str, LockRecord] = {}
        # Chunked: SQLite limits the number of bound parameters of one statement.
        for i in range(0, len(game_dates), 500):
            chunk = list(game_dates[i:i + 500])
            rows = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM partition_locks WHERE lock_type = ? "
                f"AND game_date IN ({', '.join('?' * len(chunk))})",
                (lock_type, *chunk),
            ).fetchall()
            for row in rows:
                record = self._row_to_record(row)
                assert record is not None
                found[record.game_date] = record
        return found

    def _take(
        self,
        conn: sqlite3.Connection,
        lock_type: str,
        game_date: str,
        holder_id: str,
        operation_id: str,
        lease_seconds: float,
        now: float,
        current: LockRecord | None,
    ) -> LockRecord | None:
        """Write the acquisition of a free (absent / released / expired) lock inside the caller's
        transaction; returns the expired holder it replaced, if any."""
        key = lock_key(lock_type, game_date)
        now_dt = _to_dt(now)
        assert now_dt is not None
        expires = now + lease_seconds
        ttl = expires + TTL_DELAY.total_seconds()
        took_over = current if current is not None and current.holder_id is not None else None
        if current is None:
            conn.execute(
                """INSERT INTO partition_locks (lock_type, game_date, lock_key, holder_id,
                       operation_id, fencing_token, acquired_at, expires_at, ttl_expire_at,
                       lease_seconds, renewal_count, version)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 1)""",
                (lock_type, game_date, key, holder_id, operation_id,
                 initial_fencing_token(now_dt), now, expires, ttl, lease_seconds),
            )
        else:
            conn.execute(
                """UPDATE partition_locks SET holder_id = ?, operation_id = ?,
                       fencing_token = ?, acquired_at = ?, expires_at = ?, ttl_expire_at = ?,
                       lease_seconds = ?, renewed_at = NULL, renewal_count = 0,
                       released_at = NULL, released_by = NULL, release_reason = NULL,
                       took_over_from = ?, last_holder_id = ?, last_operation_id = ?,
                       version = ?
                   WHERE lock_type = ? AND game_date = ?""",
                (holder_id, operation_id, current.fencing_token + 1, now, expires, ttl,
                 lease_seconds, took_over.holder_id if took_over else None,
                 current.holder_id or current.last_holder_id,
                 current.operation_id or current.last_operation_id,
                 int(current.version) + 1, lock_type, game_date),
            )
        return took_over

    # -- LockBackend ------------------------------------------------------------------------
    def try_acquire(
        self, lock_type: str, game_date: str, holder_id: str, operation_id: str, lease_seconds: float
    ) -> AcquireAttempt:
        validate_lock_type(lock_type)
        game_date = normalize_game_date(game_date)
        with self._write_txn() as conn:
            now = self._now()
            now_dt = _to_dt(now)
            assert now_dt is not None
            current = self._select(conn, lock_type, game_date)
            if current is not None and not current.is_free(now_dt):
                return AcquireAttempt(acquired=False, record=current, server_now=now_dt)
            took_over = self._take(conn, lock_type, game_date, holder_id, operation_id,
                                   lease_seconds, now, current)
            record = self._select(conn, lock_type, game_date)
        return AcquireAttempt(acquired=True, record=record, server_now=now_dt, took_over=took_over)

    def try_acquire_many(
        self,
        lock_type: str,
        game_dates: Sequence[str],
        holder_id: str,
        operation_ids: Sequence[str],
        lease_seconds: float,
    ) -> BatchAcquireAttempt:
        """All or nothing, in ONE ``BEGIN IMMEDIATE`` transaction: read every date's row, and
        unless one is held by someone else, take them all."""
        validate_lock_type(lock_type)
        dates = [normalize_game_date(d) for d in game_dates]
        if len(operation_ids) != len(dates):
            raise ValueError("one operation_id per game_date")
        with self._write_txn() as conn:
            now = self._now()
            now_dt = _to_dt(now)
            assert now_dt is not None
            current = self._select_many(conn, lock_type, dates)
            blockers = tuple(
                current[d] for d in dates if d in current and not current[d].is_free(now_dt)
            )
            if blockers:
                return BatchAcquireAttempt(
                    acquired=False, records=(), server_now=now_dt, blockers=blockers
                )
            took_over = tuple(
                self._take(conn, lock_type, d, holder_id, op, lease_seconds, now, current.get(d))
                for d, op in zip(dates, operation_ids)
            )
            written = self._select_many(conn, lock_type, dates)
        return BatchAcquireAttempt(
            acquired=True,
            records=tuple(written[d] for d in dates),
            server_now=now_dt,
            took_over=took_over,
        )

    def renew(
        self, lock_type: str, game_date: str, holder_id: str, fencing_token: int, lease_seconds: float
    ) -> LockRecord:
        game_date = normalize_game_date(game_date)
        with self._write_txn() as conn:
            now = self._now()
            now_dt = _to_dt(now)
            assert now_dt is not None
            current = self._select(conn, lock_type, game_date)
            check_renewable(current, lock_key(lock_type, game_date), holder_id,
                            fencing_token, now_dt)
            assert current is not None
            expires = now + lease_seconds
            conn.execute(
                """UPDATE partition_locks SET expires_at = ?, ttl_expire_at = ?, renewed_at = ?,
                       lease_seconds = ?, renewal_count = renewal_count + 1, version = version + 1
                   WHERE lock_type = ? AND game_date = ? AND holder_id = ? AND fencing_token = ?""",
                (expires, expires + TTL_DELAY.total_seconds(), now, lease_seconds, lock_type,
                 game_date, holder_id, fencing_token),
            )
            record = self._select(conn, lock_type, game_date)
        assert record is not None
        return record

    def release(
        self,
        lock_type: str,
        game_date: str,
        holder_id: str,
        fencing_token: int,
        version: Any = None,
        operation_id: str | None = None,
    ) -> bool:
        game_date = normalize_game_date(game_date)
        with self._write_txn() as conn:
            now = self._now()
            cur = conn.execute(
                """UPDATE partition_locks SET holder_id = NULL, operation_id = NULL,
                       released_at = ?, released_by = ?, release_reason = 'released',
                       last_holder_id = holder_id, last_operation_id = operation_id,
                       version = version + 1
                   WHERE lock_type = ? AND game_date = ? AND holder_id = ? AND fencing_token = ?""",
                (now, holder_id, lock_type, game_date, holder_id, fencing_token),
            )
            return cur.rowcount == 1

    def renew_many(
        self,
        lock_type: str,
        leases: Sequence[tuple[str, int]],
        holder_id: str,
        lease_seconds: float,
    ) -> list[LockRecord | LockLostError]:
        """Every date of the batch in ONE transaction; a date no longer ours gets its
        :class:`LockLostError`, the others are renewed."""
        validate_lock_type(lock_type)
        items = [(normalize_game_date(d), token) for d, token in leases]
        outcomes: list[LockRecord | LockLostError | None] = []
        with self._write_txn() as conn:
            now = self._now()
            now_dt = _to_dt(now)
            assert now_dt is not None
            current = self._select_many(conn, lock_type, [d for d, _ in items])
            expires = now + lease_seconds
            for game_date, token in items:
                try:
                    check_renewable(current.get(game_date), lock_key(lock_type, game_date),
                                    holder_id, token, now_dt)
                except LockLostError as exc:
                    outcomes.append(exc)
                    continue
                conn.execute(
                    """UPDATE partition_locks SET expires_at = ?, ttl_expire_at = ?,
                           renewed_at = ?, lease_seconds = ?, renewal_count = renewal_count + 1,
                           version = version + 1
                       WHERE lock_type = ? AND game_date = ? AND holder_id = ?
                         AND fencing_token = ?""",
                    (expires, expires + TTL_DELAY.total_seconds(), now, lease_seconds, lock_type,
                     game_date, holder_id, token),
                )
                outcomes.append(None)
            renewed = self._select_many(
                conn, lock_type, [d for (d, _), o in zip(items, outcomes) if o is None]
            )
        return [o if o is not None else renewed[d] for (d, _), o in zip(items, outcomes)]

    def release_many(
        self,
        lock_type: str,
        leases: Sequence[tuple[str, int, Any, str | None]],
        holder_id: str,
    ) -> list[bool]:
        """Every date of the batch in ONE transaction, each owner-checked (holder + token)."""
        validate_lock_type(lock_type)
        released: list[bool] = []
        with self._write_txn() as conn:
            now = self._now()
            for game_date, token, _version, _operation_id in leases:
                cur = conn.execute(
                    """UPDATE partition_locks SET holder_id = NULL, operation_id = NULL,
                           released_at = ?, released_by = ?, release_reason = 'released',
                           last_holder_id = holder_id, last_operation_id = operation_id,
                           version = version + 1
                       WHERE lock_type = ? AND game_date = ? AND holder_id = ?
                         AND fencing_token = ?""",
                    (now, holder_id, lock_type, normalize_game_date(game_date), holder_id, token),
                )
                released.append(cur.rowcount == 1)
        return released

    def get(self, lock_type: str, game_date: str) -> tuple[LockRecord | None, dt.datetime]:
        validate_lock_type(lock_type)
        game_date = normalize_game_date(game_date)
        conn = self._connect()
        try:
            record = self._select(conn, lock_type, game_date)
        except sqlite3.Error as exc:
            raise LockBackendUnavailableError(f"SQLite lock store {self.path}: {exc}") from exc
        finally:
            conn.close()
        now = _to_dt(self._now())
        assert now is not None
        return record, now

    def list_records(self, lock_type: str | None = None) -> tuple[list[LockRecord], dt.datetime]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM partition_locks"
        params: tuple[Any, ...] = ()
        if lock_type is not None:
            validate_lock_type(lock_type)
            sql += " WHERE lock_type = ?"
            params = (lock_type,)
        sql += " ORDER BY lock_type, game_date"
        conn = self._connect()
        try:
            rows = conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise LockBackendUnavailableError(f"SQLite lock store {self.path}: {exc}") from exc
        finally:
            conn.close()
        now = _to_dt(self._now())
        assert now is not None
        return [r for r in (self._row_to_record(row) for row in rows) if r is not None], now

    def force_release(self, lock_type: str, game_date: str, released_by: str) -> LockRecord | None:
        validate_lock_type(lock_type)
        game_date = normalize_game_date(game_date)
        with self._write_txn() as conn:
            current = self._select(conn, lock_type, game_date)
            if current is None or current.holder_id is None:
                return None
            conn.execute(
                """UPDATE partition_locks SET holder_id = NULL, operation_id = NULL,
                       released_at = ?, released_by = ?, release_reason = 'force_released',
                       last_holder_id = holder_id, last_operation_id = operation_id,
                       version = version + 1
                   WHERE lock_type = ? AND game_date = ?""",
                (self._now(), released_by, lock_type, game_date),
            )
        return current

    def purge_ttl_expired(self) -> int:
        """Delete rows whose ``ttl_expire_at`` passed (what Firestore's TTL policy does)."""
        with self._write_txn() as conn:
            cur = conn.execute(
                "DELETE FROM partition_locks WHERE ttl_expire_at IS NOT NULL AND ttl_expire_at < ?",
                (self._now(),),
            )
            return cur.rowcount

    def close(self) -> None:
        """Nothing to do: every operation opens and closes its own connection."""


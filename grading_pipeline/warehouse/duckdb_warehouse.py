"""The embedded warehouse: one DuckDB file with schemas named like the BigQuery datasets.

DuckDB lets one process at a time open a file for writing; `connect` retries the open with
backoff while another process holds it (and only then), so concurrent runs queue at the file.
Each write is one transaction: a crash before COMMIT leaves the previous version, and the
transaction never shows half a date.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import duckdb
from pydantic import Field, PrivateAttr

from grading_pipeline import settings
from grading_pipeline.errors import MissingTableError, WarehouseUnavailableError
from grading_pipeline.sql_catalog import SqlDialect, ddl_columns
from grading_pipeline.tables import FENCE_TABLE
from grading_pipeline.warehouse.base import (
    INPUT_DDL,
    OUTPUT_DDL,
    PREVIOUS_ROWS,
    AuditQuery,
    Fence,
    Publication,
    TableWrite,
    Warehouse,
    WarehouseSession,
    blocking_failures,
    report_text,
    rows_by_date,
)

DATASETS = ("nba_predictions", "nba_analytics")
DUCKDB = SqlDialect("duckdb")


class DuckDBWarehouse(Warehouse):
    """The local warehouse (`GRADING_DUCKDB_PATH`, default `data/warehouse.duckdb`)."""

    database: str = Field(description="Path of the DuckDB file; created with its folder if absent.")
    _tables_ready: bool = PrivateAttr(default=False)

    @property
    def dialect(self) -> SqlDialect:
        return DUCKDB

    open_timeout_seconds: Optional[float] = Field(
        default=None,
        description="How long to wait while another process holds the file (GRADING_DUCKDB_OPEN_TIMEOUT_SECONDS).",
    )

    @contextmanager
    def _connection(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        timeout = settings.duckdb_open_timeout_seconds() if self.open_timeout_seconds is None else self.open_timeout_seconds
        con = connect(self.database, timeout, read_only=read_only)
        try:
            yield con
        finally:
            con.close()  # a leaked connection would hold the file's lock and stall every other process

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[DuckDBSession]:
        with self._connection(read_only) as con:
            session = DuckDBSession(con)
            if not self._tables_ready and not read_only:
                session.create_tables(OUTPUT_DDL)
                self._tables_ready = True
            yield session

    def ensure_tables(self, include_inputs: bool = False) -> None:
        with self._connection() as con:
            DuckDBSession(con).create_tables(OUTPUT_DDL + (INPUT_DDL if include_inputs else ()))

    def load_rows(self, table: str, frame: Any, replace_dates: list[dt.date] | None = None) -> int:
        """Insert a DataFrame into `table`, replacing `replace_dates` first, in one transaction."""
        with self._connection() as con:
            con.begin()
            if replace_dates:
                con.execute(f"DELETE FROM {table} WHERE game_date IN (SELECT UNNEST($dates))", {"dates": replace_dates})
            con.register("incoming_rows", frame)
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming_rows")
            con.unregister("incoming_rows")
            con.commit()
        return len(frame)


def connect(database: str, timeout_seconds: float, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting (with backoff, saying so with the holder's PID) only while another
    process holds it: DuckDB lets one process at a time open a file for writing (read-only opens
    may share it with each other). Anything else (a folder, a file that is not DuckDB, no
    permission) fails at once with the path and the reason."""
    path = Path(database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WarehouseUnavailableError(f"DuckDB warehouse {database}: cannot create its folder: {error}") from error
    started = time.monotonic()
    said_at: float | None = None
    pause = 0.05
    while True:
        try:
            con = duckdb.connect(database, read_only=read_only)
            con.execute("SET TimeZone = 'UTC'")  # dates become timestamps at UTC midnight, as on BigQuery
            if said_at is not None:
                _log().info(f"DuckDB warehouse {database}: opened after waiting {time.monotonic() - started:.1f} s")
            return con
        except duckdb.Error as error:
            held = "Could not set lock" in str(error) or "Conflicting lock" in str(error)
            holder = _holder(str(error))
            waited = time.monotonic() - started
            if not held or waited + pause > timeout_seconds:
                reason = (f"held by another process ({holder}) for more than {timeout_seconds:g} s "
                          "(GRADING_DUCKDB_OPEN_TIMEOUT_SECONDS)") if held else str(error).strip()
                raise WarehouseUnavailableError(f"DuckDB warehouse {database} cannot be opened: {reason}") from error
            if said_at is None or time.monotonic() - said_at >= 10.0:
                said_at = time.monotonic()
                _log().warning(f"DuckDB warehouse {database} is held by another process ({holder}); waited "
                               f"{waited:.1f} s, waiting up to {timeout_seconds:g} s (GRADING_DUCKDB_OPEN_TIMEOUT_SECONDS)")
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


def _holder(message: str) -> str:
    """`PID 1234` from DuckDB's lock error ("Conflicting lock is held in python3 (PID 1234) by user x")."""
    found = re.search(r"\(PID (\d+)\)", message)
    return f"PID {found.group(1)}" if found else "PID unknown"


def _log() -> Any:
    # In a run, Dagster's logger puts the lines in the run's event log; elsewhere, Python logging.
    import dagster

    return dagster.get_dagster_logger("warehouse")


class DuckDBSession(WarehouseSession):
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def create_tables(self, ddl_names: tuple[str, ...]) -> None:
        present = self._present_columns()
        missing = [(table, column) for table, columns in map(ddl_columns, ddl_names) for column in columns
                   if (table, column.name) not in present]
        if not missing:
            return  # each DDL statement would still be a transaction of its own (~3 ms each)
        for dataset in DATASETS:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
        for name in ddl_names:
            self.con.execute(DUCKDB.render(name))
        # A table created by an older version gets the columns its DDL has gained since (nullable,
        # so old rows and old queries keep working).
        present = self._present_columns()
        for table, column in missing:
            if (table, column.name) not in present:
                self.con.execute(f"ALTER TABLE {table} ADD COLUMN {column.name} {column.type_in('duckdb')}")

    def _present_columns(self) -> set[tuple[str, str]]:
        # DuckDB's catalog functions, not information_schema (views over them, ~20 ms a query).
        return {
            (f"{schema}.{table}", column)
            for schema, table, column in self.con.execute(
                "SELECT schema_name, table_name, column_name FROM duckdb_columns()"
            ).fetchall()
        }

    def _execute(self, sql: str, params: dict[str, Any] | None = None) -> duckdb.DuckDBPyConnection:
        try:
            return self.con.execute(sql, params or {})
        except duckdb.CatalogException as error:
            raise MissingTableError(f"{error}. Load the inputs first (e.g. `grading-pipeline sample-data`).") from error

    def query(self, sql_name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._rows(DUCKDB.render(sql_name), params)

    def query_text(self, sql_text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._rows(DUCKDB.render_text(sql_text), params)

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        cursor = self._execute(sql, _used_params(sql, params))
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def missing_tables(self, tables: list[str]) -> list[str]:
        present = {
            f"{schema}.{name}"
            for schema, name in self.con.execute(
                "SELECT schema_name, table_name FROM duckdb_tables() UNION ALL SELECT schema_name, view_name FROM duckdb_views()"
            ).fetchall()
        }
        return [t for t in tables if t not in present]

    def column_types(self, table: str) -> dict[str, str]:
        schema, name = table.split(".")
        return dict(self.con.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
            [schema, name],
        ).fetchall())

    def create_table_as(self, table: str, sql_name: str, params: dict[str, Any]) -> int:
        select = DUCKDB.render(sql_name)
        self._execute(f"CREATE OR REPLACE TABLE {table} AS {select}", _used_params(select, params))
        return self._execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def drop_table(self, table: str) -> None:
        self._execute(f"DROP TABLE IF EXISTS {table}")

    def restore_table(self, table: str, backup_table: str) -> int:
        self.con.begin()
        try:
            self._execute(f"DELETE FROM {table}")
            (rows,) = self._execute(f"INSERT INTO {table} SELECT * FROM {backup_table}").fetchone()
            self._commit()
        except BaseException:
            self.con.rollback()
            raise
        return rows

    def claim_fences(self, table: str, fences: Sequence[Fence]) -> None:
        if not fences:
            return
        self.con.begin()
        try:
            self._claim_fences(table, fences)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise

    def _claim_fences(self, table: str, fences: Sequence[Fence]) -> None:
        unclaimed = self.unclaimed_fences(table, fences)
        if not unclaimed:
            return  # none, or already claimed by this holder when its locks were taken
        # One DELETE and one INSERT for the batch, values bound as parameters.
        self._execute(
            f"DELETE FROM {FENCE_TABLE} WHERE table_name = $table_name AND game_date IN (SELECT UNNEST($dates))",
            {"table_name": table, "dates": [f.game_date for f in unclaimed]},
        )
        # One statement, not executemany (DuckDB runs that row by row: 0.2 s for a season's dates).
        self._execute(
            f"INSERT INTO {FENCE_TABLE} (table_name, game_date, lock_type, fencing_token, holder_id, claimed_at) "
            "SELECT $table_name, UNNEST($dates), UNNEST($lock_types), UNNEST($tokens), UNNEST($holders), current_timestamp",
            {"table_name": table, "dates": [f.game_date for f in unclaimed], "lock_types": [f.lock_type for f in unclaimed],
             "tokens": [f.token for f in unclaimed], "holders": [f.holder_id for f in unclaimed]},
        )

    def publish(
        self,
        start_date: dt.date,
        end_date: dt.date,
        writes: Sequence[TableWrite],
        audits: Sequence[AuditQuery] = (),
        fences: Mapping[str, Sequence[Fence]] | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> Publication:
        started = time.perf_counter()
        in_range = "game_date BETWEEN $start_date AND $end_date"
        replaced: dict[str, dict[dt.date, int]] = {}
        written: dict[str, int] = {}
        self.con.begin()
        try:
            for write in writes:
                self._touch_fences(write.table, (fences or {}).get(write.table, ()))
            for n, write in enumerate(writes):
                params = dict(zip(("start_date", "end_date"), write.range(start_date, end_date)))
                replaced[write.table] = dict(self._execute(
                    f"SELECT game_date, COUNT(*) FROM {write.table} WHERE {in_range} GROUP BY game_date", params
                ).fetchall())
                if write.report_sql:
                    previous = DUCKDB.render(write.previous_sql)
                    self._execute(f"CREATE OR REPLACE TEMP TABLE {PREVIOUS_ROWS}_{n} AS {previous}",
                                  _used_params(previous, params))
                self._execute(f"DELETE FROM {write.table} WHERE {in_range}", params)
                select = DUCKDB.render(write.select_sql)
                (written[write.table],) = self._execute(
                    f"INSERT INTO {write.table} BY NAME {select}", _used_params(select, {**write.params, **params})
                ).fetchone()
            self._staged(writes)
            audit_started = time.perf_counter()
            audit_rows = {
                a.name: self.query(a.sql, {**dict(zip(("start_date", "end_date"), a.range(start_date, end_date))), **a.params})
                for a in audits
            }
            audit_seconds = time.perf_counter() - audit_started
            summaries = {
                w.table: rows_by_date(self.query(w.summary_sql, dict(zip(("start_date", "end_date"), w.range(start_date, end_date)))))
                for w in writes if w.summary_sql
            }
            reports = {
                w.table: self.query_text(report_text(w, f"{PREVIOUS_ROWS}_{n}"),
                                         dict(zip(("start_date", "end_date"), w.range(start_date, end_date))))
                for n, w in enumerate(writes) if w.report_sql
            }
            blocked = blocking_failures(audits, audit_rows)
            if blocked:
                self.con.rollback()
            else:
                if before_commit is not None:
                    before_commit()
                self._commit()
        except BaseException:
            self.con.rollback()
            raise
        return Publication(start_date, end_date, not blocked, blocked, replaced, written, summaries, audit_rows,
                           time.perf_counter() - started, audit_seconds, reports)

    def _touch_fences(self, table: str, fences: Sequence[Fence]) -> None:
        """Inside the write's transaction: modify this holder's fence row of every date, and fail
        unless all of them were still there (a newer holder's claim replaces them)."""
        if not fences:
            return
        (touched,) = self._execute(
            f"UPDATE {FENCE_TABLE} AS recorded SET last_written_at = current_timestamp "
            "FROM (SELECT UNNEST($dates) AS game_date, UNNEST($tokens) AS fencing_token) AS ours "
            "WHERE recorded.table_name = $table_name AND recorded.game_date = ours.game_date "
            "AND recorded.fencing_token = ours.fencing_token",
            {"table_name": table, "dates": [f.game_date for f in fences], "tokens": [f.token for f in fences]},
        ).fetchone()
        if touched != len(fences):
            raise self.fenced_out(table, fences, touched)

    def _staged(self, writes: Sequence[TableWrite]) -> None:
        """The new rows are in place, not yet audited. A seam of its own so that tests can corrupt
        them (as a grading bug would) and see the audits refuse to publish."""

    def _commit(self) -> None:
        # A seam of its own so that crash tests can stop a real process just before COMMIT.
        self.con.commit()


def _used_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """DuckDB rejects bound parameters a statement does not use; pass only those it names."""
    return {k: v for k, v in params.items() if f"${k}" in sql}


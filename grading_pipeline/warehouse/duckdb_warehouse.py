"""The embedded warehouse: one DuckDB file with schemas named like the BigQuery datasets.

DuckDB lets one process at a time open a file for writing; `dagster_duckdb.DuckDBResource`
retries the open with backoff while another process holds it, so concurrent runs queue at the
file. Each date is replaced inside one transaction: a crash before COMMIT leaves the previous
version, and the transaction never shows half a date.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field, PrivateAttr

from grading_pipeline.errors import MissingTableError
from grading_pipeline.sql_catalog import SqlDialect
from grading_pipeline.warehouse.base import (
    INPUT_DDL,
    OUTPUT_DDL,
    Fence,
    PartitionWrite,
    Warehouse,
    WarehouseSession,
)

DATASETS = ("nba_predictions", "nba_analytics")
FENCE_TABLE = "nba_predictions.partition_write_fences"
DUCKDB = SqlDialect("duckdb")


class DuckDBWarehouse(Warehouse):
    """The local warehouse (`GRADING_DUCKDB_PATH`, default `data/warehouse.duckdb`)."""

    database: str = Field(description="Path of the DuckDB file; created with its folder if absent.")
    _tables_ready: bool = PrivateAttr(default=False)

    @property
    def dialect(self) -> SqlDialect:
        return DUCKDB

    @contextmanager
    def _connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.database).parent.mkdir(parents=True, exist_ok=True)
        with DuckDBResource(database=self.database).get_connection() as con:
            # DuckDBResource does not close the connection when the body raises; a leaked
            # connection would hold the file's lock and stall every other process.
            try:
                yield con
            finally:
                con.close()

    @contextmanager
    def session(self) -> Iterator[DuckDBSession]:
        with self._connection() as con:
            session = DuckDBSession(con)
            if not self._tables_ready:
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


class DuckDBSession(WarehouseSession):
    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con

    def create_tables(self, ddl_names: tuple[str, ...]) -> None:
        for dataset in DATASETS:
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")
        for name in ddl_names:
            self.con.execute(DUCKDB.render(name))

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
                "SELECT table_schema, table_name FROM information_schema.tables"
            ).fetchall()
        }
        return [t for t in tables if t not in present]

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
        self.con.executemany(
            f"INSERT INTO {FENCE_TABLE} (table_name, game_date, lock_type, fencing_token, holder_id, claimed_at) "
            "VALUES (?, ?, ?, ?, ?, current_timestamp)",
            [(table, f.game_date, f.lock_type, f.token, f.holder_id) for f in unclaimed],
        )

    def replace_partitions(
        self,
        table: str,
        start_date: dt.date,
        end_date: dt.date,
        select_sql: str,
        summary_sql: str | None = None,
        fences: Sequence[Fence] = (),
    ) -> PartitionWrite:
        started = time.perf_counter()
        params = {"start_date": start_date, "end_date": end_date}
        in_range = "game_date BETWEEN $start_date AND $end_date"
        select = DUCKDB.render(select_sql)
        self.con.begin()
        try:
            self._claim_fences(table, fences)
            rows_replaced = dict(
                self._execute(f"SELECT game_date, COUNT(*) FROM {table} WHERE {in_range} GROUP BY game_date", params).fetchall()
            )
            self._execute(f"DELETE FROM {table} WHERE {in_range}", params)
            (rows_written,) = self._execute(
                f"INSERT INTO {table} BY NAME {select}", _used_params(select, params)
            ).fetchone()
            per_date = {row["game_date"]: row for row in self.query(summary_sql, params)} if summary_sql else {}
            self._commit()
        except BaseException:
            self.con.rollback()
            raise
        return PartitionWrite(table, start_date, end_date, rows_replaced, per_date, rows_written,
                              time.perf_counter() - started)

    def _commit(self) -> None:
        # A seam of its own so that crash tests can stop a real process just before COMMIT.
        self.con.commit()


def _used_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """DuckDB rejects bound parameters a statement does not use; pass only those it names."""
    return {k: v for k, v in params.items() if f"${k}" in sql}

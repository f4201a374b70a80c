"""The interface every warehouse engine implements. Assets depend on this, never on an engine."""

from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from dagster import ConfigurableResource

from grading_pipeline.errors import FencedOutError
from grading_pipeline.sql_catalog import SqlDialect, read_sql

# Output tables, created idempotently before any write; input tables are never created by a run
# (a missing input is an error, not an empty day).
OUTPUT_DDL = (
    "ddl/030_prediction_accuracy.sql",
    "ddl/040_system_daily_performance.sql",
    "ddl/050_partition_write_fences.sql",
    "ddl/060_system_scorecard.sql",
)
INPUT_DDL = ("ddl/010_player_prop_predictions.sql", "ddl/020_player_game_summary.sql")


@dataclass(frozen=True)
class Fence:
    """A lock holder's fencing token for one date: claimed in the fence ledger when the lock is
    taken; a write commits only if its token is still the one recorded for that date of that
    table (a newer holder's claim replaces it)."""

    lock_type: str
    game_date: dt.date
    token: int
    holder_id: str


@dataclass(frozen=True)
class TableWrite:
    """One table's new rows for every date of a range: `select_sql` (bound to @start_date and
    @end_date) replaces them; `summary_sql` reads per-date figures back inside the transaction.
    With `previous_sql` and `report_sql`, the write also says what it changed: `previous_sql`
    selects from the rows it is about to replace (copied before its DELETE), and `report_sql`, a
    text that follows `WITH previous_rows AS (...),`, compares them with the new rows after the
    INSERT (a re-grade's changed grades: sql/reports/)."""

    table: str
    select_sql: str
    summary_sql: str | None = None
    # A range of its own (default: the publication's), e.g. the scorecard windows a re-graded date
    # reaches into.
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # the select's own, e.g. its provenance
    previous_sql: str | None = None
    report_sql: str | None = None

    def range(self, start_date: dt.date, end_date: dt.date) -> tuple[dt.date, dt.date]:
        return self.start_date or start_date, self.end_date or end_date


@dataclass(frozen=True)
class AuditQuery:
    """A query of `sql/checks/` run on the new rows before COMMIT. The rule, on every engine: a
    blocking audit that returns any row stops the commit (the transaction is rolled back)."""

    name: str
    sql: str
    blocking: bool
    params: Mapping[str, Any] = field(default_factory=dict)
    start_date: dt.date | None = None  # default: the publication's range
    end_date: dt.date | None = None

    def range(self, start_date: dt.date, end_date: dt.date) -> tuple[dt.date, dt.date]:
        return self.start_date or start_date, self.end_date or end_date


@dataclass(frozen=True)
class Publication:
    """What one write-audit-publish transaction over [start_date, end_date] did."""

    start_date: dt.date
    end_date: dt.date
    committed: bool  # False: a blocking audit found rows and everything was rolled back
    blocked_by: tuple[str, ...]  # the blocking audits that found rows
    rows_replaced: dict[str, dict[dt.date, int]]  # table -> date -> rows of the previous version
    rows_written: dict[str, int]  # table -> rows inserted (also when rolled back)
    summaries: dict[str, dict[dt.date, list[dict[str, Any]]]]  # table -> date -> its summary rows
    audit_rows: dict[str, list[dict[str, Any]]]  # audit name -> the rows it returned
    seconds: float = 0.0  # the whole transaction
    audit_seconds: float = 0.0  # the audits inside it
    reports: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table -> its report_sql's rows


def rows_by_date(rows: list[dict[str, Any]]) -> dict[dt.date, list[dict[str, Any]]]:
    grouped: dict[dt.date, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["game_date"], []).append(row)
    return grouped


PREVIOUS_ROWS = "previous_rows_of_write"  # the name (a prefix) of the copy of a write's previous rows


def report_text(write: TableWrite, previous_rows: str) -> str:
    """The BigQuery-dialect text of a write's report (sql/ macros expanded), reading the copy of its
    previous rows from the table `previous_rows`."""
    return f"WITH previous_rows AS (SELECT * FROM {previous_rows}),\n{read_sql(write.report_sql)}"


def blocking_failures(audits: Sequence[AuditQuery], audit_rows: Mapping[str, list]) -> tuple[str, ...]:
    """The publish rule: the blocking audits that returned any row (nothing is committed then)."""
    return tuple(a.name for a in audits if a.blocking and audit_rows.get(a.name))


class WarehouseSession(abc.ABC):
    """One connection to the warehouse, reused for every date of a run."""

    @abc.abstractmethod
    def query(self, sql_name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Run a named SELECT from `sql/` with bound parameters; rows as dicts."""

    @abc.abstractmethod
    def query_text(self, sql_text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Like `query`, for a BigQuery-dialect text derived from one of `sql/`."""

    @abc.abstractmethod
    def publish(
        self,
        start_date: dt.date,
        end_date: dt.date,
        writes: Sequence[TableWrite],
        audits: Sequence[AuditQuery] = (),
        fences: Mapping[str, Sequence[Fence]] | None = None,
        before_commit: Callable[[], None] | None = None,
    ) -> Publication:
        """Write, audit, publish, in ONE transaction: replace every row of each write's table dated
        in [start_date, end_date] by its select's rows (dates outside are never touched), run the
        audits on the new rows, then COMMIT, or ROLL BACK when a blocking audit returned a row (the
        previous version of every date stays, whole). A crash, a retry or a concurrent writer never
        leaves two copies or half a date.

        `fences` (table -> the fences of the dates) were claimed when the locks were taken: the
        transaction modifies each fence row it holds and fails with FencedOutError unless it
        modified all of them, so a holder whose lease was taken over cannot commit.
        `before_commit` (the lease check) runs as late as the engine allows: on DuckDB after the
        audits, right before COMMIT; on BigQuery before the script is sent (its fence UPDATE then
        refuses a successor's newer claim). An exception from it rolls everything back.
        """

    @abc.abstractmethod
    def claim_fences(self, table: str, fences: Sequence[Fence]) -> None:
        """Record each fence as the newest token of its date (fails if a newer one is recorded)."""

    def unclaimed_fences(self, table: str, fences: Sequence[Fence]) -> list[Fence]:
        """Raise FencedOutError when a newer token than a fence's is recorded for its date; return
        the fences not recorded yet (the others were claimed by this holder already)."""
        if not fences:
            return []
        dates = [f.game_date for f in fences]
        span = {"table_name": table, "start_date": min(dates), "end_date": max(dates)}
        newest = {row["game_date"]: row for row in self.query("fencing/newest_fence.sql", span)}
        for fence in fences:
            recorded = newest.get(fence.game_date)
            if recorded and recorded["fencing_token"] > fence.token:
                raise FencedOutError(
                    f"{table} {fence.game_date}: fencing token {fence.token} of {fence.holder_id} is older "
                    f"than token {recorded['fencing_token']} of {recorded['holder_id']}: this holder's "
                    "lease ran out and another holder took the lock. Nothing was written."
                )
        return [f for f in fences if newest.get(f.game_date, {}).get("fencing_token") != f.token]

    def fenced_out(self, table: str, fences: Sequence[Fence], touched: int) -> FencedOutError:
        """The error of a write that could modify only `touched` of its fence rows: names the newer
        holder when one is recorded."""
        self.unclaimed_fences(table, fences)  # raises, naming the newer token and its holder
        return FencedOutError(
            f"{table}: {len(fences) - touched} of the {len(fences)} fencing token(s) of this write are no "
            "longer recorded in the fence ledger (claimed again, or the ledger was changed). Nothing was written."
        )

    @abc.abstractmethod
    def missing_tables(self, tables: list[str]) -> list[str]:
        """The logical `dataset.table` names among `tables` that do not exist."""

    @abc.abstractmethod
    def column_types(self, table: str) -> dict[str, str]:
        """Column name -> the engine's name of its type, of an existing table."""

    def create_table_as(self, table: str, sql_name: str, params: dict[str, Any]) -> int:
        """(Re)create `table` from a named SELECT; returns its row count. Used by the cleanup."""
        raise NotImplementedError(f"{type(self).__name__} cannot create tables from queries yet")

    def drop_table(self, table: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot drop tables yet")

    def restore_table(self, table: str, backup_table: str) -> int:
        """Replace every row of `table` by those of `backup_table` in one atomic unit; returns rows."""
        raise NotImplementedError(f"{type(self).__name__} cannot restore tables yet")


class Warehouse(ConfigurableResource):
    """An engine holding the four tables, in datasets named like production's."""

    @property
    @abc.abstractmethod
    def dialect(self) -> SqlDialect: ...

    @abc.abstractmethod
    def ensure_tables(self, include_inputs: bool = False) -> None:
        """Create the output tables (and optionally the input tables) if absent."""

    @abc.abstractmethod
    def session(self, read_only: bool = False) -> AbstractContextManager[WarehouseSession]:
        """`read_only`: for work that only reads (checks on stored rows, sweep, reports)."""

    @abc.abstractmethod
    def load_rows(self, table: str, frame: Any, replace_dates: list[dt.date] | None = None) -> int:
        """Load a pandas DataFrame into an input table (sample data, tests), atomically."""

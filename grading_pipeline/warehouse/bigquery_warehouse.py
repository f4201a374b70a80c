"""The production warehouse: BigQuery, through `dagster_gcp.BigQueryResource`.

The same SQL texts as DuckDB (`sql/`, BigQuery dialect) run here, with the logical datasets
`nba_predictions` / `nba_analytics` mapped to `<dataset_prefix>nba_predictions` /
`<dataset_prefix>nba_analytics` of `project` and every value bound as a query parameter.

How each write stays whole
--------------------------
* `publish` (write, audit, publish) is ONE query job: a multi-statement transaction script
  (`BEGIN TRANSACTION; modify the fence rows and assert them; per table: count old rows, DELETE the
  dates, INSERT ... SELECT; the audits and summaries into temp tables; IF a blocking audit found a
  row THEN ROLLBACK ELSE COMMIT; SELECT every result`). BigQuery commits it whole or not at all: a
  crash, a failed statement, a failed audit or a fenced-out writer leaves every date as it was, and
  dates outside the range are never touched. A transaction that conflicts with a concurrent one on
  the same table is cancelled by BigQuery ("Transaction is aborted due to concurrent update"); the
  whole unit is then retried with bounded exponential backoff, each retry logged.
* Fencing: the script UPDATEs this holder's row of every date in the fence ledger and asserts, in
  the same transaction, that all of them matched (`ERROR('FENCED_OUT ...')` otherwise). Reading the
  ledger alone would not do: BigQuery transactions run on a snapshot, so a successor's claim
  committed after the snapshot would go unseen; modifying the rows makes that claim a conflicting
  write, and one of the two transactions is aborted (ours is retried, then fails as fenced out).
* `load_rows` (sample data, tests) never streams: rows go to a staging table by a load job
  (NEWLINE_DELIMITED_JSON), then one transaction deletes the replaced dates and inserts the staged
  rows; the staging table is dropped (and expires after an hour if the process dies first).
* Tables are created through the API from the DDL texts in `sql/ddl/` (parsed with sqlglot):
  columns, NOT NULL -> REQUIRED, `PARTITION BY game_date` -> daily time partitioning,
  `CLUSTER BY` -> clustering fields, `OPTIONS (require_partition_filter = TRUE)`. The DDL stays the
  one source of the schema; every query in `sql/` filters `game_date`, as the partition filter
  requires.

Pointing it at a project
------------------------
    BigQueryWarehouse(project="my-gcp-project", location="US")

Credentials: Application Default Credentials (the Cloud Run / GKE / Compute service account, or
`gcloud auth application-default login`), or `gcp_credentials` = a service-account key JSON,
base64-encoded (`base64 -w0 key.json`), as `dagster_gcp.BigQueryResource` takes it (it cannot be
combined with GOOGLE_APPLICATION_CREDENTIALS). `dataset_prefix` ("" in production) separates test
or staging datasets in the same project. `api_endpoint` points the client elsewhere (a local
emulator at http://127.0.0.1:PORT, with anonymous credentials).

IAM the runtime service account needs
-------------------------------------
* `roles/bigquery.jobUser` (BigQuery Job User) on the project: to run query and load jobs.
* `roles/bigquery.dataEditor` (BigQuery Data Editor) on the two datasets (`nba_predictions`,
  `nba_analytics`): to read the inputs, create the output tables and the short-lived staging
  tables, and run DML on them. Reading `nba_analytics` only needs `roles/bigquery.dataViewer`
  there when the inputs are loaded by another system.
* Creating the datasets themselves (first deploy, `ensure_tables`) needs `bigquery.datasets.create`
  on the project (Data Editor or BigQuery User at project level); create them once at deploy time
  and the runtime needs no project-wide data role. Existing datasets and tables are looked up first
  and never re-created.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import json
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import sqlglot
from dagster import get_dagster_logger
from dagster_gcp import BigQueryResource
from google.api_core import exceptions as gexc
from google.cloud import bigquery
from pydantic import Field, PrivateAttr
from sqlglot import exp

from grading_pipeline.errors import FencedOutError, MissingTableError
from grading_pipeline.sql_catalog import (
    SOURCE_DIALECT,
    SqlDialect,
    ddl_columns,
    ddl_names,
    output_columns,
    read_sql,
)
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
FENCED_OUT_MARK = "FENCED_OUT"
STAGING_EXPIRY = dt.timedelta(hours=1)

# BigQuery's answers when a transaction or DML statement lost a race with another one on the same
# table; the unit is retried from the start (nothing of the aborted one was committed).
_CONCURRENT_UPDATE = re.compile(
    r"concurrent update|could not serialize access|transaction is aborted|aborted due to concurrent",
    re.IGNORECASE,
)


class BigQueryClientResource(BigQueryResource):
    """`dagster_gcp.BigQueryResource` that can also talk to another endpoint (a local emulator)."""

    api_endpoint: str | None = Field(
        default=None,
        description="Another BigQuery REST endpoint, e.g. http://127.0.0.1:9050 for a local emulator "
        "(plain http:// endpoints get anonymous credentials).",
    )

    @contextmanager
    def get_client(self) -> Iterator[bigquery.Client]:
        if not self.api_endpoint:
            with super().get_client() as client:
                yield client
            return
        credentials = None
        if self.api_endpoint.startswith("http://"):
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        client = bigquery.Client(
            project=self.project, location=self.location, credentials=credentials,
            client_options={"api_endpoint": self.api_endpoint},
        )
        try:
            yield client
        finally:
            client.close()


class BigQueryWarehouse(Warehouse):
    """The production warehouse (GRADING_ENV=prod)."""

    project: str = Field(description="GCP project holding the datasets (and billed for the jobs).")
    location: str | None = Field(default=None, description="Location of the datasets and jobs, e.g. US.")
    gcp_credentials: str | None = Field(
        default=None, description="Base64-encoded service-account key JSON; default: Application Default Credentials."
    )
    dataset_prefix: str = Field(default="", description='Prefix of the dataset names, e.g. "test_".')
    api_endpoint: str | None = Field(default=None, description="Another REST endpoint (a local emulator).")
    max_attempts: int = Field(default=6, description="Attempts of a write that loses a race with another one.")
    retry_initial_seconds: float = Field(default=1.0, description="First backoff after a concurrent-update error.")
    job_timeout_seconds: float = Field(default=900.0, description="Longest wait for one query or load job.")
    api_deadline_seconds: float = Field(
        default=120.0, description="Longest time an API call (not a job) is retried on transient errors."
    )

    _tables_ready: bool = PrivateAttr(default=False)

    @property
    def dialect(self) -> SqlDialect:
        return _dialect(self.project, self.dataset_prefix)

    def physical_dataset(self, logical: str) -> str:
        return f"{self.dataset_prefix}{logical}"

    def client_resource(self) -> BigQueryClientResource:
        return BigQueryClientResource(
            project=self.project, location=self.location, gcp_credentials=self.gcp_credentials,
            api_endpoint=self.api_endpoint,
        )

    @contextmanager
    def _client(self) -> Iterator[bigquery.Client]:
        with self.client_resource().get_client() as client:
            yield client

    @contextmanager
    def session(self, read_only: bool = False) -> Iterator[BigQuerySession]:
        # BigQuery has no file to share: `read_only` only skips creating missing tables.
        with self._client() as client:
            session = BigQuerySession(self, client)
            if not self._tables_ready and not read_only:
                session.create_tables(OUTPUT_DDL)
                self._tables_ready = True
            yield session

    def ensure_tables(self, include_inputs: bool = False) -> None:
        with self._client() as client:
            BigQuerySession(self, client).create_tables(OUTPUT_DDL + (INPUT_DDL if include_inputs else ()))

    def load_rows(self, table: str, frame: Any, replace_dates: list[dt.date] | None = None) -> int:
        """Load a DataFrame into `table` (replacing `replace_dates` first) in one transaction, by way
        of a staging table filled by a load job: no streaming inserts."""
        with self._client() as client:
            return BigQuerySession(self, client).load_rows(table, frame, replace_dates)


@functools.cache
def _dialect(project: str, prefix: str) -> SqlDialect:
    return SqlDialect(SOURCE_DIALECT, dataset_names=tuple((d, f"{prefix}{d}") for d in DATASETS), catalog=project,
                      strip_comments=True)


class BigQuerySession(WarehouseSession):
    def __init__(self, warehouse: BigQueryWarehouse, client: bigquery.Client):
        self.warehouse = warehouse
        self.client = client
        self.dialect = warehouse.dialect
        self.log = get_dagster_logger()
        self.retry = bigquery.DEFAULT_RETRY.with_deadline(warehouse.api_deadline_seconds)

    # -- tables -------------------------------------------------------------------------------

    def create_tables(self, ddl: Sequence[str]) -> None:
        """Create the datasets and the tables of `ddl` if absent (looked up first: creating needs
        more rights than using)."""
        for logical in DATASETS:
            ref = bigquery.DatasetReference(self.warehouse.project, self.warehouse.physical_dataset(logical))
            try:
                self.client.get_dataset(ref, retry=self.retry)
            except gexc.NotFound:
                dataset = bigquery.Dataset(ref)
                if self.warehouse.location:
                    dataset.location = self.warehouse.location
                self.client.create_dataset(dataset, exists_ok=True, retry=self.retry)
        for name in ddl:
            spec = table_spec(name)
            ref = self._table_ref(spec.logical)
            try:
                existing = self.client.get_table(ref, retry=self.retry)
            except gexc.NotFound:
                self.client.create_table(spec.table(ref), exists_ok=True, retry=self.retry)
                continue
            # A table created by an older version gets the columns its DDL has gained since
            # (NULLABLE: old rows and old queries keep working).
            present = {f.name for f in existing.schema}
            missing = [f for f in spec.schema if f.name not in present]
            if missing:
                existing.schema = [*existing.schema, *(bigquery.SchemaField(f.name, f.field_type, mode="NULLABLE") for f in missing)]
                self.client.update_table(existing, ["schema"], retry=self.retry)

    def _table_ref(self, logical: str) -> bigquery.TableReference:
        dataset, table = logical.split(".")
        return bigquery.TableReference(
            bigquery.DatasetReference(self.warehouse.project, self.warehouse.physical_dataset(dataset)), table
        )

    def missing_tables(self, tables: list[str]) -> list[str]:
        missing = []
        for logical in tables:
            try:
                self.client.get_table(self._table_ref(logical), retry=self.retry)
            except gexc.NotFound:
                missing.append(logical)
        return missing

    def column_types(self, table: str) -> dict[str, str]:
        return {f.name: f.field_type for f in self.client.get_table(self._table_ref(table), retry=self.retry).schema}

    # -- reads --------------------------------------------------------------------------------

    def query(self, sql_name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._rows(self._render(sql_name), params)

    def query_text(self, sql_text: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self._rows(self.dialect.render_text(sql_text), params)

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [dict(row.items()) for row in self._run(sql, params)]

    def _render(self, sql_name: str) -> str:
        return self.dialect.render(sql_name)

    def _run(self, sql: str, params: dict[str, Any]) -> bigquery.table.RowIterator:
        """One query job (a statement or a script); a missing table is a MissingTableError."""
        config = bigquery.QueryJobConfig(query_parameters=query_parameters(sql, params), use_legacy_sql=False)
        try:
            job = self.client.query(sql, job_config=config, location=self.warehouse.location, retry=self.retry)
            return job.result(timeout=self.warehouse.job_timeout_seconds)
        except gexc.NotFound as error:
            raise MissingTableError(
                f"{_message(error)}. Load the inputs first (e.g. `grading-pipeline sample-data`)."
            ) from error

    # -- the cleanup's tables ------------------------------------------------------------------

    def create_table_as(self, table: str, sql_name: str, params: dict[str, Any]) -> int:
        target = self.dialect.table(table)
        select = self._render(sql_name)
        self._run(f"CREATE OR REPLACE TABLE {target} AS\n{select}", params)
        (row,) = self._run(f"SELECT COUNT(*) AS row_count FROM {target}", {})
        return row["row_count"]

    def drop_table(self, table: str) -> None:
        self.client.delete_table(self._table_ref(table), not_found_ok=True, retry=self.retry)

    def restore_table(self, table: str, backup_table: str) -> int:
        """Every row of `table` replaced by the backup's, in one transaction."""
        target, backup = self.dialect.table(table), self.dialect.table(backup_table)
        columns = ", ".join(f.name for f in table_spec_for(table).schema)
        # `game_date IS NOT NULL` (always true) is the whole-table filter that
        # require_partition_filter asks for, as in sql/cleanup/.
        statements = [
            "BEGIN TRANSACTION",
            f"DELETE FROM {target} WHERE game_date IS NOT NULL",
            f"INSERT INTO {target} ({columns}) SELECT {columns} FROM {backup}",
            "COMMIT TRANSACTION",
            f"SELECT COUNT(*) AS row_count FROM {target} WHERE game_date IS NOT NULL",
        ]
        (row,) = self._with_retries(f"restore {table}", lambda: list(self._run_script(statements, {}, table)))
        return row["row_count"]

    # -- writes -------------------------------------------------------------------------------

    def _with_retries(self, what: str, attempt_once):
        """Run `attempt_once()` again when BigQuery aborted it for a concurrent update."""
        attempts = max(1, self.warehouse.max_attempts)
        delay = self.warehouse.retry_initial_seconds
        for attempt in range(1, attempts + 1):
            try:
                return attempt_once()
            except (gexc.BadRequest, gexc.Conflict, gexc.Aborted) as error:
                if not is_concurrent_update(error) or attempt == attempts:
                    raise
                pause = min(delay, 32.0) * (0.5 + random.random())
                self.log.warning(
                    f"{what}: attempt {attempt}/{attempts} lost a race with a concurrent write "
                    f"({_message(error)}); retrying the whole unit in {pause:.1f} s"
                )
                time.sleep(pause)
                delay *= 2
        raise AssertionError("unreachable")

    def claim_fences(self, table: str, fences: Sequence[Fence]) -> None:
        if not fences:
            return

        def attempt() -> None:
            unclaimed = self.unclaimed_fences(table, fences)
            if not unclaimed:
                return  # already claimed by this holder
            statements, params = self._fence_statements(table, fences, unclaimed)
            self._run_script(["BEGIN TRANSACTION", *statements, "COMMIT TRANSACTION"], params, table, fences)

        self._with_retries(f"claim fences on {table}", attempt)

    def _fence_statements(
        self, table: str, fences: Sequence[Fence], unclaimed: Sequence[Fence]
    ) -> tuple[list[str], dict[str, Any]]:
        """Inside the transaction: fail if a newer token is recorded for any date; record ours."""
        fence_table = self.dialect.table(FENCE_TABLE)
        statements = [
            "SELECT IF(EXISTS(\n"
            f"  SELECT 1 FROM {fence_table} AS recorded\n"
            "  JOIN UNNEST(@fences) AS fence ON recorded.game_date = fence.game_date\n"
            "  WHERE recorded.table_name = @fence_table AND recorded.fencing_token > fence.fencing_token\n"
            f"), ERROR('{FENCED_OUT_MARK}: a newer fencing token has claimed a date of this write'), 0)"
        ]
        params: dict[str, Any] = {"fence_table": table, "fences": _fence_parameter("fences", fences)}
        if unclaimed:
            statements += [
                f"DELETE FROM {fence_table} WHERE table_name = @fence_table AND game_date IN UNNEST(@claim_dates)",
                f"INSERT INTO {fence_table} (table_name, game_date, lock_type, fencing_token, holder_id, claimed_at)\n"
                "SELECT @fence_table, claim.game_date, claim.lock_type, claim.fencing_token, claim.holder_id, "
                "CURRENT_TIMESTAMP()\nFROM UNNEST(@claims) AS claim",
            ]
            params["claim_dates"] = [f.game_date for f in unclaimed]
            params["claims"] = _fence_parameter("claims", unclaimed)
        return statements, params

    def _run_script(
        self, statements: list[str], params: dict[str, Any], writes: Sequence[TableWrite] | str,
        fences: Mapping[str, Sequence[Fence]] | Sequence[Fence] = (),
    ) -> bigquery.table.RowIterator:
        script = ";\n".join(statements) + ";"
        tables = [writes] if isinstance(writes, str) else [w.table for w in writes]
        by_table = fences if isinstance(fences, Mapping) else {tables[0]: fences}
        try:
            return self._run(script, params)
        except gexc.GoogleAPICallError as error:
            if FENCED_OUT_MARK in _message(error):
                # A newer holder claimed a date: name it (raises), else say what is known.
                for table in tables:
                    if by_table.get(table):
                        self.unclaimed_fences(table, by_table[table])
                raise FencedOutError(
                    f"{', '.join(tables)}: a fencing token of this write is no longer the recorded one "
                    "(another holder claimed a date while it ran). Nothing was written."
                ) from error
            raise

    def _touch_fence_statements(self, table: str, fences: Sequence[Fence], n: int) -> tuple[list[str], dict[str, Any]]:
        """Modify this holder's fence row of every date, then assert that all of them matched."""
        fence_table = self.dialect.table(FENCE_TABLE)
        ours = (
            f"recorded.table_name = @fence_table_{n} AND EXISTS(SELECT 1 FROM UNNEST(@fences_{n}) AS fence "
            "WHERE fence.game_date = recorded.game_date AND fence.fencing_token = recorded.fencing_token)"
        )
        statements = [
            f"UPDATE {fence_table} AS recorded SET last_written_at = CURRENT_TIMESTAMP() WHERE {ours}",
            f"SELECT IF((SELECT COUNT(*) FROM {fence_table} AS recorded WHERE {ours}) <> @fence_count_{n}, "
            f"ERROR('{FENCED_OUT_MARK}: a fencing token of this write is no longer the recorded one'), 0)",
        ]
        params = {f"fence_table_{n}": table, f"fences_{n}": _fence_parameter(f"fences_{n}", fences),
                  f"fence_count_{n}": len(fences)}
        return statements, params

    @staticmethod
    def _range_binder(prefix: str, span: tuple[dt.date, dt.date], params: dict[str, Any]):
        """A statement's own date range: its @start_date / @end_date renamed, values added."""
        params[f"{prefix}_start_date"], params[f"{prefix}_end_date"] = span
        return lambda text: re.sub(r"@(start_date|end_date)\b", rf"@{prefix}_\1", text)

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
        in_range = "game_date BETWEEN @start_date AND @end_date"
        # Temp tables get unique names: bqemulator keeps them as tables of a dataset after the
        # script (BigQuery drops them with it).
        suffix = uuid.uuid4().hex[:12]
        statements: list[str] = ["BEGIN TRANSACTION"]
        params: dict[str, Any] = {"start_date": start_date, "end_date": end_date}
        results: list[tuple[str, str, str]] = []  # (part, name, temp table)
        fenced = [(w.table, (fences or {}).get(w.table, ())) for w in writes]
        for n, (table, table_fences) in enumerate(fenced):
            if table_fences:
                fence_statements, fence_params = self._touch_fence_statements(table, table_fences, n)
                statements += fence_statements
                params.update(fence_params)
        for n, write in enumerate(writes):
            target = self.dialect.table(write.table)
            selected = output_columns(write.select_sql)
            if "*" in selected:  # e.g. `new_rows.*, stamps`: the table's columns, read by name below
                selected = [f.name for f in table_spec_for(write.table).schema]
            bind = self._range_binder(f"w{n}", write.range(start_date, end_date), params)
            params.update(write.params)
            before, after = f"_before_{n}_{suffix}", f"_after_{n}_{suffix}"
            previous = f"_{PREVIOUS_ROWS}_{n}_{suffix}"
            statements += [
                bind(f"CREATE TEMP TABLE {before} AS\nSELECT game_date, COUNT(*) AS row_count FROM {target}\n"
                     f"WHERE {in_range} GROUP BY game_date"),
                *([bind(f"CREATE TEMP TABLE {previous} AS\n{self._render(write.previous_sql)}")] if write.report_sql else []),
                bind(f"DELETE FROM {target} WHERE {in_range}"),
                bind(f"INSERT INTO {target} ({', '.join(selected)})\nSELECT {', '.join(selected)} FROM (\n"
                     f"{self._render(write.select_sql)}\n)"),
                bind(f"CREATE TEMP TABLE {after} AS\nSELECT game_date, COUNT(*) AS row_count FROM {target}\n"
                     f"WHERE {in_range} GROUP BY game_date"),
            ]
            results += [("before", write.table, before), ("after", write.table, after)]
            if write.summary_sql:
                summary = f"_summary_{n}_{suffix}"
                statements.append(bind(f"CREATE TEMP TABLE {summary} AS\n{self._render(write.summary_sql)}"))
                results.append(("summary", write.table, summary))
            if write.report_sql:
                report = f"_report_{n}_{suffix}"
                # Rendered with a fixed name (its translation is cached), then given this script's.
                text = self.dialect.render_text(report_text(write, PREVIOUS_ROWS)).replace(PREVIOUS_ROWS, previous)
                statements.append(bind(f"CREATE TEMP TABLE {report} AS\n{text}"))
                results.append(("report", write.table, report))
        blocking = []
        for n, audit in enumerate(audits):
            found = f"_audit_{n}_{suffix}"
            bind = self._range_binder(f"a{n}", audit.range(start_date, end_date), params)
            statements.append(bind(f"CREATE TEMP TABLE {found} AS\n{self._render(audit.sql)}"))
            params.update(audit.params)
            results.append(("audit", audit.name, found))
            if audit.blocking:
                blocking.append(f"EXISTS(SELECT 1 FROM {found})")
        # The publish rule of warehouse.base.blocking_failures, inside the transaction.
        if blocking:
            statements.append(
                f"IF {' OR '.join(blocking)} THEN\n  ROLLBACK TRANSACTION;\nELSE\n  COMMIT TRANSACTION;\nEND IF"
            )
        else:
            statements.append("COMMIT TRANSACTION")
        # Every figure read inside the transaction, returned after it (temp tables only).
        statements.append("\nUNION ALL\n".join(
            f"SELECT '{part}' AS part, '{name}' AS name, TO_JSON_STRING(t) AS row FROM {temp} AS t"
            for part, name, temp in results
        ))

        def attempt() -> Publication:
            if before_commit is not None:
                before_commit()  # then the script's own fence UPDATE refuses a newer claim
            rows = list(self._run_script(statements, params, writes, fences or {}))
            return self._publication(start_date, end_date, writes, audits, rows, started)

        return self._with_retries(f"publish {start_date}..{end_date}", attempt)

    def _publication(
        self, start_date: dt.date, end_date: dt.date, writes: Sequence[TableWrite], audits: Sequence[AuditQuery],
        rows: list[Any], started: float,
    ) -> Publication:
        parts: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for row in rows:
            parts.setdefault((row["part"], row["name"]), []).append(_from_json(json.loads(row["row"])))
        replaced = {w.table: {r["game_date"]: r["row_count"] for r in parts.get(("before", w.table), [])} for w in writes}
        written = {w.table: sum(r["row_count"] for r in parts.get(("after", w.table), [])) for w in writes}
        summaries = {w.table: rows_by_date(parts.get(("summary", w.table), [])) for w in writes if w.summary_sql}
        audit_rows = {a.name: parts.get(("audit", a.name), []) for a in audits}
        reports = {w.table: parts.get(("report", w.table), []) for w in writes if w.report_sql}
        blocked = blocking_failures(audits, audit_rows)
        return Publication(start_date, end_date, not blocked, blocked, replaced, written, summaries, audit_rows,
                           time.perf_counter() - started, reports=reports)

    def load_rows(self, table: str, frame: Any, replace_dates: list[dt.date] | None = None) -> int:
        spec = table_spec_for(table)
        target_ref = self._table_ref(table)
        target = self.dialect.table(table)
        columns = [c for c in frame.columns if c in spec.types]
        unknown = [c for c in frame.columns if c not in spec.types]
        if unknown:
            raise ValueError(f"columns {unknown} are not columns of {table}")
        staging_ref = None
        statements = ["BEGIN TRANSACTION"]
        params: dict[str, Any] = {}
        if replace_dates:
            statements.append(f"DELETE FROM {target} WHERE game_date IN UNNEST(@replace_dates)")
            params["replace_dates"] = list(replace_dates)
        try:
            if len(frame):
                staging_ref = bigquery.TableReference(
                    bigquery.DatasetReference(target_ref.project, target_ref.dataset_id),
                    f"_load_{target_ref.table_id}_{uuid.uuid4().hex[:12]}",
                )
                staging = bigquery.Table(staging_ref, schema=[f for f in spec.schema if f.name in columns])
                staging.expires = dt.datetime.now(dt.timezone.utc) + STAGING_EXPIRY
                self.client.create_table(staging, retry=self.retry)
                config = bigquery.LoadJobConfig(
                    source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                    schema=staging.schema,
                    write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
                    create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
                )
                job = self.client.load_table_from_file(
                    io.BytesIO(_ndjson(frame, columns, spec.types)), staging_ref, job_config=config, size=None,
                    location=self.warehouse.location,
                )
                job.result(timeout=self.warehouse.job_timeout_seconds)
                names = ", ".join(columns)
                staged = f"`{staging_ref.project}`.{staging_ref.dataset_id}.{staging_ref.table_id}"
                statements.append(f"INSERT INTO {target} ({names}) SELECT {names} FROM {staged}")
            if len(statements) > 1:
                statements.append("COMMIT TRANSACTION")
                self._with_retries(f"load {table}", lambda: self._run_script(statements, params, table))
        finally:
            if staging_ref is not None:
                self.client.delete_table(staging_ref, not_found_ok=True, retry=self.retry)
        return len(frame)


# -- SQL rendering -------------------------------------------------------------------------------


# -- query parameters ----------------------------------------------------------------------------

_PARAMETER = re.compile(r"@(\w+)")


def query_parameters(sql: str, params: dict[str, Any]) -> list:
    """Typed BigQuery parameters for the names `sql` uses (a value is never put in the text)."""
    used = set(_PARAMETER.findall(sql))
    return [_parameter(name, value) for name, value in params.items() if name in used]


def _scalar_type(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FLOAT64"
    if isinstance(value, Decimal):
        return "NUMERIC"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, dt.datetime):
        return "TIMESTAMP"
    if isinstance(value, dt.date):
        return "DATE"
    raise TypeError(f"no BigQuery parameter type for {type(value).__name__} value {value!r}")


def _parameter(name: str, value: Any):
    if isinstance(value, (bigquery.ScalarQueryParameter, bigquery.ArrayQueryParameter, bigquery.StructQueryParameter)):
        return value
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"parameter @{name} is an empty list: its element type cannot be inferred")
        return bigquery.ArrayQueryParameter(name, _scalar_type(value[0]), list(value))
    if value is None:
        raise ValueError(f"parameter @{name} is None: pass a typed ScalarQueryParameter for a NULL")
    return bigquery.ScalarQueryParameter(name, _scalar_type(value), value)


def _fence_parameter(name: str, fences: Sequence[Fence]) -> bigquery.ArrayQueryParameter:
    return bigquery.ArrayQueryParameter(
        name, "STRUCT",
        [
            bigquery.StructQueryParameter(
                None,
                bigquery.ScalarQueryParameter("game_date", "DATE", f.game_date),
                bigquery.ScalarQueryParameter("lock_type", "STRING", f.lock_type),
                bigquery.ScalarQueryParameter("fencing_token", "INT64", int(f.token)),
                bigquery.ScalarQueryParameter("holder_id", "STRING", f.holder_id),
            )
            for f in fences
        ],
    )


# -- errors --------------------------------------------------------------------------------------


def _message(error: gexc.GoogleAPICallError) -> str:
    parts = [str(getattr(error, "message", "") or error)]
    for detail in getattr(error, "errors", None) or []:
        if isinstance(detail, dict):
            parts += [str(detail.get("message", "")), str(detail.get("reason", ""))]
    return " | ".join(p for p in dict.fromkeys(parts) if p)


def is_concurrent_update(error: Exception) -> bool:
    """BigQuery aborted the job because another transaction or DML changed the same table."""
    if not isinstance(error, gexc.GoogleAPICallError):
        return False
    return bool(_CONCURRENT_UPDATE.search(_message(error)))


# -- tables from the DDL texts -------------------------------------------------------------------


class TableSpec:
    """A table as its DDL file declares it, as the BigQuery API creates it."""

    def __init__(self, ddl_name: str):
        create = sqlglot.parse_one(read_sql(ddl_name), read=SOURCE_DIALECT)
        self.logical, columns = ddl_columns(ddl_name)
        self.schema: list[bigquery.SchemaField] = [
            bigquery.SchemaField(c.name, c.bigquery_type, mode="REQUIRED" if c.required else "NULLABLE") for c in columns
        ]
        self.types = {f.name: f.field_type for f in self.schema}
        self.partition_field: str | None = None
        self.clustering: list[str] | None = None
        self.require_partition_filter = False
        properties = create.args.get("properties")
        for prop in properties.expressions if properties else []:
            if isinstance(prop, exp.PartitionedByProperty):
                self.partition_field = prop.this.name
            elif isinstance(prop, exp.ClusterProperty):
                self.clustering = [c.name for c in prop.expressions]
            elif isinstance(prop, exp.Property) and prop.name.lower() == "require_partition_filter":
                self.require_partition_filter = prop.args["value"].sql(SOURCE_DIALECT).upper() == "TRUE"

    def table(self, ref: bigquery.TableReference) -> bigquery.Table:
        table = bigquery.Table(ref, schema=self.schema)
        if self.partition_field:
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=self.partition_field
            )
        if self.clustering:
            table.clustering_fields = self.clustering
        if self.require_partition_filter:
            table.require_partition_filter = True
        return table


@functools.cache
def table_spec(ddl_name: str) -> TableSpec:
    return TableSpec(ddl_name)


@functools.cache
def table_spec_for(logical: str) -> TableSpec:
    for name in ddl_names():
        spec = table_spec(name)
        if spec.logical == logical:
            return spec
    raise ValueError(f"no DDL in sql/ddl/ creates {logical}")


# -- NDJSON for load jobs ------------------------------------------------------------------------


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, (list, tuple, dict)) else False
    except (TypeError, ValueError):
        return False


def _json_value(value: Any, bq_type: str) -> Any:
    if _is_null(value):
        return None
    if bq_type in ("NUMERIC", "BIGNUMERIC"):
        number = Decimal(repr(float(value))) if isinstance(value, float) else Decimal(str(value))
        return format(number, "f")
    if bq_type in ("INT64", "INTEGER"):
        return int(value)
    if bq_type in ("FLOAT64", "FLOAT"):
        return float(value)
    if bq_type in ("BOOL", "BOOLEAN"):
        return bool(value)
    if bq_type == "DATE":
        return value.date().isoformat() if isinstance(value, dt.datetime) else value.isoformat()
    if bq_type == "TIMESTAMP":
        stamp = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        return stamp.astimezone(dt.timezone.utc).isoformat()
    return str(value)


def _ndjson(frame: Any, columns: list[str], types: dict[str, str]) -> bytes:
    lines = []
    for record in frame[columns].itertuples(index=False, name=None):
        lines.append(json.dumps({c: _json_value(v, types[c]) for c, v in zip(columns, record)}))
    return ("\n".join(lines) + "\n").encode()


def _from_json(row: dict[str, Any]) -> dict[str, Any]:
    """A temp table's row as TO_JSON_STRING wrote it, with dates back as dates."""
    if isinstance(row.get("game_date"), str):
        row["game_date"] = dt.date.fromisoformat(row["game_date"])
    return row

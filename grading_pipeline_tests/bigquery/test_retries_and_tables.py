"""What the emulator cannot show, checked without it: the retry of a unit that lost a race with a
concurrent transaction (BigQuery cancels one of two conflicting transactions; the emulator runs
scripts one at a time), the table definitions taken from the DDL (the emulator does not report
require_partition_filter), and the query parameters."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from grading_pipeline.tables import PREDICTION_ACCURACY
from grading_pipeline.warehouse.base import TableWrite
from grading_pipeline.warehouse.bigquery_warehouse import (
    BigQuerySession,
    BigQueryWarehouse,
    is_concurrent_update,
    query_parameters,
    table_spec_for,
)

pytestmark = pytest.mark.bigquery

DAY = dt.date(2025, 11, 3)
ACCURACY_TABLE = PREDICTION_ACCURACY.name
GRADE = TableWrite(ACCURACY_TABLE, "grading/grade_predictions.sql", "grading/partition_summary.sql")


class FakeJob:
    def __init__(self, outcome):
        self.outcome = outcome

    def result(self, timeout=None):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class FakeRow(dict):
    def items(self):
        return super().items()


class FakeClient:
    """Answers the fence pre-check with nothing, then fails the write script `failures` times."""

    def __init__(self, failures: list[Exception]):
        self.failures = list(failures)
        self.scripts: list[tuple[str, list]] = []

    def query(self, sql, job_config=None, location=None, retry=None):
        if sql.lstrip().startswith("BEGIN TRANSACTION"):
            self.scripts.append((sql, job_config.query_parameters))
            if self.failures:
                return FakeJob(self.failures.pop(0))
            return FakeJob([
                FakeRow(part="before", name=ACCURACY_TABLE, row=json.dumps({"game_date": str(DAY), "row_count": 2})),
                FakeRow(part="after", name=ACCURACY_TABLE, row=json.dumps({"game_date": str(DAY), "row_count": 3})),
                FakeRow(part="summary", name=ACCURACY_TABLE, row=json.dumps({"game_date": str(DAY), "rows_graded": 3})),
            ])
        return FakeJob([])


def session(client) -> BigQuerySession:
    warehouse = BigQueryWarehouse(project="p", retry_initial_seconds=0.01, max_attempts=4)
    return BigQuerySession(warehouse, client)


def concurrent(kind=gexc.BadRequest):
    return kind("Transaction is aborted due to concurrent update against table p.nba_predictions.prediction_accuracy",
                errors=[{"reason": "invalidQuery", "message": "Transaction is aborted due to concurrent update"}])


def test_a_unit_aborted_by_a_concurrent_update_is_retried_whole_and_each_retry_is_logged(caplog):
    client = FakeClient([concurrent(), concurrent(gexc.Conflict),
                         gexc.BadRequest("Could not serialize access to table p.x due to concurrent update")])
    with caplog.at_level(logging.WARNING):
        published = session(client).publish(DAY, DAY, [GRADE])
    assert len(client.scripts) == 4
    assert (published.rows_written, published.rows_replaced, published.summaries, published.committed) == \
           ({ACCURACY_TABLE: 3}, {ACCURACY_TABLE: {DAY: 2}}, {ACCURACY_TABLE: {DAY: [{"game_date": DAY, "rows_graded": 3}]}}, True)
    retries = [r for r in caplog.records if "lost a race with a concurrent write" in r.getMessage()]
    assert [f"attempt {n}/4 " in r.getMessage() for n, r in enumerate(retries, 1)] == [True, True, True]


def test_retries_are_bounded_and_other_errors_are_not_retried():
    client = FakeClient([concurrent()] * 10)
    with pytest.raises(gexc.BadRequest, match="concurrent update"):
        session(client).publish(DAY, DAY, [GRADE])
    assert len(client.scripts) == 4

    client = FakeClient([gexc.BadRequest("Syntax error: Unexpected keyword")])
    with pytest.raises(gexc.BadRequest, match="Syntax error"):
        session(client).publish(DAY, DAY, [GRADE])
    assert len(client.scripts) == 1
    assert not is_concurrent_update(gexc.NotFound("Not found: Table p:d.t"))


def test_the_write_is_one_parameterized_transaction_script_that_commits_only_when_the_audits_pass():
    from grading_pipeline.warehouse.base import AuditQuery

    client = FakeClient([])
    audit = AuditQuery("no_duplicate_business_keys", "checks/duplicate_business_keys.sql", True, {"sample_size": 20})
    session(client).publish(DAY, DAY, [GRADE], [audit])
    ((script, params),) = client.scripts
    statements = [s.strip().split("\n")[0] for s in script.split(";\n")]
    assert statements[0] == "BEGIN TRANSACTION"
    decision = script[script.index("\nIF "):script.index("END IF")]
    assert decision.startswith("\nIF EXISTS(SELECT 1 FROM _audit_0_")
    assert "THEN\n  ROLLBACK TRANSACTION;\nELSE\n  COMMIT TRANSACTION;" in decision
    assert statements[-1].startswith("SELECT")  # every figure, read inside the transaction
    target = "p.nba_predictions.prediction_accuracy"
    assert sum(s.replace("`", "").startswith(f"DELETE FROM {target}") for s in statements) == 1
    assert sum(s.replace("`", "").startswith(f"INSERT INTO {target}") for s in statements) == 1
    assert "2025-11-03" not in script  # values travel as parameters only
    assert {(p.name, p.type_) for p in params} == {  # each statement binds its own range
        (f"{prefix}_{end}", "DATE") for prefix in ("w0", "a0") for end in ("start_date", "end_date")} | {("sample_size", "INT64")}


def test_tables_are_defined_from_the_ddl():
    spec = table_spec_for(ACCURACY_TABLE)
    table = spec.table(bigquery.TableReference.from_string("p.nba_predictions.prediction_accuracy"))
    assert table.time_partitioning.field == "game_date" and table.time_partitioning.type_ == "DAY"
    assert table.clustering_fields == ["system_id", "player_lookup"]
    assert table.require_partition_filter is True
    fields = {f.name: (f.field_type, f.mode) for f in table.schema}
    assert fields["line_value"] == ("NUMERIC", "NULLABLE") and fields["graded_at"] == ("TIMESTAMP", "REQUIRED")
    assert fields["is_voided"] == ("BOOL", "REQUIRED") and fields["confidence_decile"] == ("INT64", "NULLABLE")
    fences = table_spec_for("nba_predictions.partition_write_fences")
    assert fences.partition_field is None and not fences.require_partition_filter


def test_only_used_parameters_are_sent_with_their_types():
    params = query_parameters(
        "SELECT 1 WHERE d = @start_date AND n IN UNNEST(@names) AND k = @k",
        {"start_date": DAY, "names": ["a", "b"], "k": 3, "unused": "x"},
    )
    assert [(p.name, getattr(p, "type_", None) or p.array_type) for p in params] == \
           [("start_date", "DATE"), ("names", "STRING"), ("k", "INT64")]


def test_an_output_table_of_an_older_version_gains_the_new_columns(bq_warehouse):
    """The fence ledger got `last_written_at`; a table created before it is migrated in place,
    the new column NULLABLE, its rows kept."""
    from grading_pipeline.tables import FENCE_TABLE

    client = bq_warehouse.client_resource()
    with client.get_client() as bq:
        dataset = bigquery.DatasetReference(bq_warehouse.project, bq_warehouse.physical_dataset("nba_predictions"))
        bq.create_dataset(bigquery.Dataset(dataset), exists_ok=True)
        old = bigquery.Table(dataset.table(FENCE_TABLE.split(".")[1]), schema=[
            f for f in table_spec_for(FENCE_TABLE).schema if f.name != "last_written_at"])
        bq.create_table(old)
    bq_warehouse.ensure_tables()
    with client.get_client() as bq:
        fields = {f.name: f.mode for f in bq.get_table(dataset.table(FENCE_TABLE.split(".")[1])).schema}
    assert fields["last_written_at"] == "NULLABLE" and "claimed_at" in fields

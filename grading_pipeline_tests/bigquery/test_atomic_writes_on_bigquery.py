"""Atomic partition replacement on BigQuery (the emulator): repeated and concurrent re-grading
leaves exactly one copy, other dates are never touched, a fenced-out writer changes nothing.

On this emulator, DELETE then INSERT as two jobs from concurrent processes was measured to leave
two copies (shared/notes/bigquery-emulator.md): the concurrency test passing shows that our write
is one unit there. What it cannot show is BigQuery's own isolation (see test_engine_parity.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grading_pipeline.errors import FencedOutError
from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline.tables import PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE
from grading_pipeline.warehouse.base import Fence
from grading_pipeline.warehouse.bigquery_warehouse import BigQuerySession
from grading_pipeline_tests.bigquery.conftest import bq_rows, table_rows
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, prediction

pytestmark = pytest.mark.bigquery

ROOT = Path(__file__).resolve().parents[2]
PLAYERS = [f"player{i:02d}" for i in range(30)]
SYSTEMS = ["catboost_v8", "ensemble_v1", "similarity"]
NEXT_DAY = GAME_DATE.replace(day=GAME_DATE.day + 1)
EXPECTED = len(PLAYERS) * len(SYSTEMS) * 2
ACCURACY_TABLE = PREDICTION_ACCURACY.name


def seed(warehouse, predicted_points: float = 20.0) -> None:
    predictions = [
        prediction(p, s, predicted_points=predicted_points, current_points_line=line)
        for p in PLAYERS for s in SYSTEMS for line in (14.5, None)
    ] + [prediction(p, game_date=NEXT_DAY) for p in PLAYERS]
    actuals = [actual(p, 15 + i % 10) for i, p in enumerate(PLAYERS)] + \
              [actual(p, 9, game_date=NEXT_DAY) for p in PLAYERS]
    load(warehouse, predictions, actuals, dates=[GAME_DATE, NEXT_DAY])


def grade(warehouse, day=GAME_DATE, token=None, holder="holder", claim=True):
    """Grade a date; with a token, under fences of both tables (claimed first, as a lock holder does)."""
    fences = {}
    if token is not None:
        fences = {t.name: [Fence(t.lock_type, day, token, holder)] for t in (PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE)}
    with warehouse.session() as session:
        if claim:
            for table, table_fences in fences.items():
                session.claim_fences(table, table_fences)
        published = publish_dates(session, day, day, policy=GradingPolicy(), fences=fences)
    assert published.committed
    return published.publication


def copies(warehouse) -> dict:
    (row,) = bq_rows(
        warehouse,
        "SELECT COUNT(*) AS row_count, MIN(predicted_points) AS predicted "
        "FROM nba_predictions.prediction_accuracy WHERE game_date = @d",
        {"d": GAME_DATE},
    )
    # NULL-safe: GROUP BY counts a NULL line_value as a value.
    (keys,) = bq_rows(
        warehouse,
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM nba_predictions.prediction_accuracy WHERE game_date = @d "
        "GROUP BY player_lookup, game_id, system_id, line_value)",
        {"d": GAME_DATE},
    )
    (perf,) = bq_rows(
        warehouse, "SELECT COUNT(*) AS n FROM nba_predictions.system_daily_performance WHERE game_date = @d",
        {"d": GAME_DATE},
    )
    return {"rows": row["row_count"], "keys": keys["n"], "predicted": float(row["predicted"] or 0),
            "perf_rows": perf["n"]}


def test_regrading_a_date_many_times_leaves_one_copy_and_other_dates_untouched(bq_warehouse):
    seed(bq_warehouse)
    grade(bq_warehouse, NEXT_DAY)
    other_day = bq_rows(bq_warehouse, "SELECT * FROM nba_predictions.prediction_accuracy WHERE game_date = @d",
                        {"d": NEXT_DAY})
    replaced = []
    for _ in range(3):
        write = grade(bq_warehouse)
        replaced.append(write.rows_replaced[ACCURACY_TABLE].get(GAME_DATE, 0))
        assert write.rows_written[ACCURACY_TABLE] == EXPECTED
    assert replaced == [0] + [EXPECTED] * 2
    assert copies(bq_warehouse) == {"rows": EXPECTED, "keys": EXPECTED, "predicted": 20.0, "perf_rows": 3}
    # The neighbouring date, graded_at included, is exactly as it was.
    assert bq_rows(bq_warehouse, "SELECT * FROM nba_predictions.prediction_accuracy WHERE game_date = @d",
                   {"d": NEXT_DAY}) == other_day


@pytest.mark.processes
def test_concurrent_processes_regrading_one_date_leave_exactly_one_copy(bq_warehouse, bigquery_emulator):
    seed(bq_warehouse)
    grade(bq_warehouse, NEXT_DAY)
    start_at = time.time() + 8.0  # after every process has imported its modules
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "grading_pipeline_tests.bigquery._replace_child", bigquery_emulator.endpoint,
             bq_warehouse.project, bq_warehouse.dataset_prefix, GAME_DATE.isoformat(), "--times", "2",
             "--start-at", str(start_at)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
    writes = [json.loads(line) for out, _ in outputs for line in out.splitlines() if line.startswith("{")]
    assert len(writes) == 6 and all(w["committed"] for w in writes)
    assert {w["rows_written"] for w in writes} == {EXPECTED}
    # Every write replaced nothing (the first) or one whole copy: never half a date, never two.
    assert {w["rows_replaced"] for w in writes} <= {0, EXPECTED}
    assert copies(bq_warehouse) == {"rows": EXPECTED, "keys": EXPECTED, "predicted": 20.0, "perf_rows": 3}
    assert len(bq_rows(bq_warehouse, "SELECT 1 FROM nba_predictions.prediction_accuracy WHERE game_date = @d",
                       {"d": NEXT_DAY})) == len(PLAYERS)


def test_an_older_fencing_token_is_refused_and_changes_nothing(bq_warehouse):
    seed(bq_warehouse, predicted_points=20.0)
    grade(bq_warehouse, token=10, holder="new-holder")
    before = table_rows(bq_rows, bq_warehouse, ACCURACY_TABLE, GAME_DATE, NEXT_DAY)
    seed(bq_warehouse, predicted_points=31.0)
    with pytest.raises(FencedOutError, match="token 5 of stale-holder is older than token 10 of new-holder"):
        grade(bq_warehouse, token=5, holder="stale-holder")
    assert table_rows(bq_rows, bq_warehouse, ACCURACY_TABLE, GAME_DATE, NEXT_DAY) == before
    grade(bq_warehouse, token=11, holder="newer-holder")
    assert copies(bq_warehouse)["predicted"] == 31.0
    fences = bq_rows(bq_warehouse, "SELECT * FROM nba_predictions.partition_write_fences WHERE game_date = @d "
                                   "AND table_name = @t", {"d": GAME_DATE, "t": ACCURACY_TABLE})
    assert [(f["fencing_token"], f["holder_id"], f["last_written_at"] is not None) for f in fences] == \
           [(11, "newer-holder", True)]


def test_a_claim_committed_after_the_writers_snapshot_still_fences_it_out(bq_warehouse, monkeypatch):
    """The stale writer claimed its fence, then a successor's claim replaced it. The writer's
    transaction does not just read the ledger (on BigQuery it would read a snapshot that may
    predate the claim): it UPDATEs its own fence row and asserts the row count inside the
    script. Its row is gone, so the script fails and the whole unit (DELETE, INSERT, audits)
    rolls back; the successor's claim stays."""
    seed(bq_warehouse, predicted_points=20.0)
    grade(bq_warehouse, token=5, holder="stale-holder")
    before = table_rows(bq_rows, bq_warehouse, ACCURACY_TABLE, GAME_DATE, NEXT_DAY)
    with bq_warehouse.session() as session:  # the successor's claim
        session.claim_fences(ACCURACY_TABLE, [Fence("grading", GAME_DATE, 10, "new-holder")])
    seed(bq_warehouse, predicted_points=31.0)
    scripts = []
    original = BigQuerySession._run

    def spy(self, sql, params):
        scripts.append(sql)
        return original(self, sql, params)

    monkeypatch.setattr(BigQuerySession, "_run", spy)
    with pytest.raises(FencedOutError, match="older than token 10 of new-holder"):
        grade(bq_warehouse, token=5, holder="stale-holder", claim=False)
    (script,) = [s for s in scripts if s.startswith("BEGIN TRANSACTION")]
    assert "UPDATE" in script.split("DELETE")[0] and "FENCED_OUT" in script.split("DELETE")[0]
    assert table_rows(bq_rows, bq_warehouse, ACCURACY_TABLE, GAME_DATE, NEXT_DAY) == before
    fences = bq_rows(bq_warehouse, "SELECT fencing_token FROM nba_predictions.partition_write_fences "
                                   "WHERE game_date = @d AND table_name = @t", {"d": GAME_DATE, "t": ACCURACY_TABLE})
    assert fences == [{"fencing_token": 10}]


def test_claiming_an_older_fence_fails_and_an_equal_one_is_a_no_op(bq_warehouse):
    bq_warehouse.ensure_tables()
    with bq_warehouse.session() as session:
        session.claim_fences(ACCURACY_TABLE, [Fence("grading", GAME_DATE, 7, "a"), Fence("grading", NEXT_DAY, 7, "a")])
        session.claim_fences(ACCURACY_TABLE, [Fence("grading", GAME_DATE, 7, "a")])
        with pytest.raises(FencedOutError):
            session.claim_fences(ACCURACY_TABLE, [Fence("grading", NEXT_DAY, 6, "b")])
        session.claim_fences(ACCURACY_TABLE, [Fence("grading", NEXT_DAY, 8, "c")])
        rows = session.query("fencing/newest_fence.sql",
                             {"table_name": ACCURACY_TABLE, "start_date": GAME_DATE, "end_date": NEXT_DAY})
    assert sorted((r["game_date"], r["fencing_token"], r["holder_id"]) for r in rows) == \
           [(GAME_DATE, 7, "a"), (NEXT_DAY, 8, "c")]


def test_a_blocking_audit_that_finds_rows_rolls_the_whole_script_back(bq_warehouse):
    """Write, audit, publish on BigQuery: the new rows of a date carry duplicate keys; the audit
    inside the transaction script finds them, the script ROLLS BACK, and both tables keep their
    previous version (and the audit's rows come back for the check's metadata)."""
    from grading_pipeline.audits import NO_DUPLICATE_BUSINESS_KEYS

    seed(bq_warehouse, predicted_points=20.0)
    grade(bq_warehouse)
    before = {t: table_rows(bq_rows, bq_warehouse, t, GAME_DATE, NEXT_DAY)
              for t in (ACCURACY_TABLE, SYSTEM_DAILY_PERFORMANCE.name)}
    with bq_warehouse.session() as session:
        # New rows with three keys twice over, from the source the cleanup's swap reads.
        session.query_text(
            "CREATE OR REPLACE TABLE nba_predictions.prediction_accuracy_deduplicated AS "
            "SELECT * FROM nba_predictions.prediction_accuracy WHERE game_date = @d UNION ALL "
            "(SELECT * FROM nba_predictions.prediction_accuracy WHERE game_date = @d "
            "ORDER BY player_lookup, system_id, line_value LIMIT 3)", {"d": GAME_DATE})
        published = publish_dates(session, GAME_DATE, GAME_DATE, policy=GradingPolicy(),
                                  select_overrides={ACCURACY_TABLE: "cleanup/from_deduplicated.sql"})
    assert not published.committed and NO_DUPLICATE_BUSINESS_KEYS.name in published.publication.blocked_by
    finding = published.findings[NO_DUPLICATE_BUSINESS_KEYS.name][GAME_DATE]
    assert not finding.passed and finding.metadata["duplicate_keys"] == 3
    assert {t: table_rows(bq_rows, bq_warehouse, t, GAME_DATE, NEXT_DAY) for t in before} == before

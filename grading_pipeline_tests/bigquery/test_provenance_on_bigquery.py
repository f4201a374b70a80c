"""Provenance on BigQuery (the emulator): the same SQL stamps each graded row with its run, its
fencing token and its inputs' versions inside the write's script, and the fence check reads them."""

from __future__ import annotations

import pytest

from grading_pipeline.observations import input_fingerprints
from grading_pipeline.tables import INPUT_TABLES
from grading_pipeline_tests.bigquery.conftest import bq_rows
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, prediction
from grading_pipeline_tests.test_provenance import ACCURACY, PROVENANCE, fence_check, publish

pytestmark = pytest.mark.bigquery


def test_graded_rows_carry_their_provenance_on_bigquery(bq_warehouse):
    load(bq_warehouse, [prediction("alpha"), prediction("bravo")], [actual("alpha", 25), actual("bravo", 12)])
    assert publish(bq_warehouse, 10, "run-10").committed
    with bq_warehouse.session() as session:
        versions = [input_fingerprints(session, t, GAME_DATE, GAME_DATE)[GAME_DATE] for t in INPUT_TABLES]
    rows = bq_rows(bq_warehouse, f"SELECT DISTINCT {PROVENANCE} FROM {ACCURACY} WHERE game_date = @d", {"d": GAME_DATE})
    assert [tuple(r.values()) for r in rows] == [("run-10", 10, *versions)]
    assert fence_check(bq_warehouse).passed
    assert publish(bq_warehouse, None, "unlocked-run").committed
    finding = fence_check(bq_warehouse)
    assert not finding.passed and finding.metadata["written_under"] == "2 rows under no lock by run unlocked-run"

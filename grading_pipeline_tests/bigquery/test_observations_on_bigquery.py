"""The inputs' fingerprints on BigQuery (the emulator): the same SQL text, a version per date that
changes exactly when that date's rows do."""

from __future__ import annotations

import pytest

from grading_pipeline.observations import NO_ROWS
from grading_pipeline.tables import ACTUALS, PREDICTIONS
from grading_pipeline_tests.support.warehouse_rows import actual, load
from grading_pipeline_tests.test_observations import DAYS, fingerprints, seed

pytestmark = pytest.mark.bigquery


def test_fingerprints_follow_a_correction_on_bigquery(bq_warehouse):
    seed(bq_warehouse)
    before = {table.name: fingerprints(bq_warehouse, table) for table in (PREDICTIONS, ACTUALS)}
    assert before[ACTUALS.name][DAYS[2]] == NO_ROWS
    assert all(v.startswith("rows=2;hash=") for t in before.values() for d, v in t.items() if d != DAYS[2])
    # The second date's box scores re-loaded with one stat corrected.
    load(bq_warehouse, [], [actual("alpha", 21, game_date=DAYS[1]), actual("bravo", 99, game_date=DAYS[1])], dates=[DAYS[1]])
    after = fingerprints(bq_warehouse, ACTUALS)
    assert after[DAYS[0]] == before[ACTUALS.name][DAYS[0]] and after[DAYS[2]] == NO_ROWS
    assert after[DAYS[1]] != before[ACTUALS.name][DAYS[1]] and after[DAYS[1]].startswith("rows=2;")

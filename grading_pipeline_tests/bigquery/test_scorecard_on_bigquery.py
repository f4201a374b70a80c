"""The scorecard's hand-made cases on BigQuery (the emulator): the independent computation's
figures, and row for row the same as DuckDB."""

from __future__ import annotations

import pytest

from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline_tests.bigquery.conftest import bq_rows, duck_rows, table_rows
from grading_pipeline_tests.support import scorecard_cases
from grading_pipeline_tests.support.scorecard_cases import DAYS, expected
from grading_pipeline_tests.support.warehouse_rows import load
from grading_pipeline_tests.test_scorecard import FIGURES, scorecard

pytestmark = pytest.mark.bigquery


def grade(warehouse):
    load(warehouse, *scorecard_cases.cases(), dates=list(DAYS))
    with warehouse.session() as session:
        assert publish_dates(session, DAYS[0], DAYS[-1], policy=GradingPolicy(min_actuals_coverage=0.0)).committed


def test_the_scorecard_agrees_with_the_independent_computation_and_with_duckdb(bq_warehouse, duck_warehouse):
    grade(bq_warehouse)
    grade(duck_warehouse)
    got = scorecard(bq_rows, bq_warehouse)
    assert set(got) == {(d, w) for d in DAYS for w in (1, 7, 30)}
    for (day, window), row in got.items():
        want = expected(day, window)
        for name in FIGURES:
            if name in want:
                assert (row[name] == pytest.approx(want[name]) if isinstance(want[name], float) else row[name] == want[name]), \
                    (day, window, name, row[name], want[name])
    table = "nba_predictions.system_scorecard"
    assert table_rows(bq_rows, bq_warehouse, table, DAYS[0], DAYS[-1]) == table_rows(duck_rows, duck_warehouse, table, DAYS[0], DAYS[-1])

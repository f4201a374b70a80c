"""The hand-made rule cases of test_grading_rules.py, graded on BigQuery (the emulator): the same
values as worked out by hand, and row for row the same as DuckDB."""

from __future__ import annotations

from decimal import Decimal

import pytest

from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline.tables import PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE
from grading_pipeline_tests.bigquery.conftest import bq_rows, duck_rows, table_rows
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, load, rule_cases

pytestmark = pytest.mark.bigquery

LENIENT = GradingPolicy(min_actuals_coverage=0.0)
ACCURACY_TABLE, PERFORMANCE_TABLE = PREDICTION_ACCURACY.name, SYSTEM_DAILY_PERFORMANCE.name

PREDICTIONS, ACTUALS = rule_cases()

def grade(warehouse):
    load(warehouse, PREDICTIONS, ACTUALS)
    with warehouse.session() as session:
        publish_dates(session, GAME_DATE, GAME_DATE, policy=LENIENT)


@pytest.fixture
def graded(bq_warehouse, duck_warehouse):
    grade(bq_warehouse)
    grade(duck_warehouse)
    return bq_warehouse, duck_warehouse


def test_hand_made_cases_grade_as_worked_out_by_hand(graded):
    bq, _ = graded
    rows = {(r["player_lookup"], r["system_id"], r["line_value"]): r
            for r in bq_rows(bq, "SELECT * FROM nba_predictions.prediction_accuracy WHERE game_date = @d", {"d": GAME_DATE})}
    assert len(rows) == 10

    r = rows[("alpha", "catboost_v8", Decimal("22.5"))]
    assert (r["actual_points"], r["absolute_error"], r["signed_error"]) == (25, 2, 2)
    assert (r["predicted_margin"], r["actual_margin"]) == (Decimal("4.5"), Decimal("2.5"))
    assert r["prediction_correct"] is True and r["is_push"] is False and r["is_voided"] is False
    assert r["confidence_decile"] == 8 and r["team_abbr"] == "MIL" and r["graded_at"] is not None
    under = rows[("alpha", "similarity", Decimal("22.5"))]
    assert under["prediction_correct"] is False and under["confidence_score"] == pytest.approx(0.65)
    assert under["confidence_decile"] == 7
    push = rows[("alpha", "ensemble_v1", Decimal("25.0"))]
    assert push["is_push"] is True and push["prediction_correct"] is None and push["confidence_decile"] == 10
    no_line = rows[("alpha", "moving_average_baseline", None)]
    assert no_line["prediction_correct"] is None and no_line["absolute_error"] == 4
    assert ("alpha", "xgboost_v1", Decimal("20.0")) not in rows
    assert ("alpha", "catboost_v8", Decimal("24.5")) not in rows
    for player, reason in [("bravo", "dnp_injury_confirmed"), ("charlie", "dnp_late_scratch"),
                           ("delta", "dnp_unknown"), ("foxtrot", "dnp_unknown")]:
        voided = rows[(player, "catboost_v8", Decimal("18.5"))]
        assert (voided["is_voided"], voided["void_reason"], voided["absolute_error"]) == (True, reason, None)
    echo = [v for k, v in rows.items() if k[0] == "echo"]
    assert len(echo) == 1 and echo[0]["predicted_points"] == 14 and echo[0]["prediction_created_at"].hour == 15

    perf = {p["system_id"]: p for p in bq_rows(
        bq, "SELECT * FROM nba_predictions.system_daily_performance WHERE game_date = @d", {"d": GAME_DATE})}
    catboost = perf["catboost_v8"]
    assert (catboost["predictions_count"], catboost["correct_count"], catboost["incorrect_count"],
            catboost["voided_count"], catboost["win_rate"], catboost["mae"]) == (6, 1, 1, 4, 0.5, pytest.approx(9.5))
    assert perf["ensemble_v1"]["win_rate"] is None and perf["ensemble_v1"]["push_count"] == 1


def test_hand_made_cases_are_graded_identically_by_both_engines(graded):
    bq, duck = graded
    for table in (ACCURACY_TABLE, PERFORMANCE_TABLE):
        assert table_rows(bq_rows, bq, table, GAME_DATE, GAME_DATE) == \
               table_rows(duck_rows, duck, table, GAME_DATE, GAME_DATE), table

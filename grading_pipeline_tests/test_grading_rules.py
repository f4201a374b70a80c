"""Every grading rule of the old system, on hand-made rows whose grades are worked out by hand."""

from __future__ import annotations

from decimal import Decimal

import pytest

from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, prediction, rule_cases

LENIENT = GradingPolicy(min_actuals_coverage=0.0)


def graded(warehouse, **where) -> dict[tuple, dict]:
    with warehouse.session() as session:
        publish_dates(session, GAME_DATE, GAME_DATE, policy=LENIENT)
    with warehouse._connection() as con:
        cur = con.execute("SELECT * FROM nba_predictions.prediction_accuracy WHERE game_date = ?", [GAME_DATE])
        cols = [d[0] for d in cur.description]
        rows = [dict(zip(cols, r)) for r in cur.fetchall()]
    return {(r["player_lookup"], r["system_id"], r["line_value"]): r for r in rows}


@pytest.fixture
def rows(warehouse):
    predictions, actuals = rule_cases()
    load(warehouse, predictions, actuals)
    return graded(warehouse)


def test_errors_margins_and_correctness(rows):
    r = rows[("alpha", "catboost_v8", Decimal("22.5"))]
    assert (r["actual_points"], r["absolute_error"], r["signed_error"]) == (25, 2, 2)
    assert (r["within_3_points"], r["within_5_points"]) == (True, True)
    assert (r["predicted_margin"], r["actual_margin"]) == (Decimal("4.5"), Decimal("2.5"))
    assert r["prediction_correct"] is True and r["is_push"] is False and r["is_voided"] is False
    assert r["confidence_decile"] == 8 and r["team_abbr"] == "MIL" and r["graded_at"] is not None

    under = rows[("alpha", "similarity", Decimal("22.5"))]
    assert (under["signed_error"], under["within_3_points"], under["within_5_points"]) == (-5, False, True)
    assert under["prediction_correct"] is False


def test_confidence_on_a_0_100_scale_is_scaled_and_deciles_cap_at_10(rows):
    assert rows[("alpha", "similarity", Decimal("22.5"))]["confidence_score"] == pytest.approx(0.65)
    assert rows[("alpha", "similarity", Decimal("22.5"))]["confidence_decile"] == 7
    assert rows[("alpha", "ensemble_v1", Decimal("25.0"))]["confidence_decile"] == 10


def test_push_pass_and_null_line_are_neither_right_nor_wrong(rows):
    push = rows[("alpha", "ensemble_v1", Decimal("25.0"))]
    assert push["is_push"] is True and push["prediction_correct"] is None and push["absolute_error"] == 1
    assert rows[("alpha", "zone_matchup", Decimal("22.5"))]["prediction_correct"] is None
    no_line = rows[("alpha", "moving_average_baseline", None)]
    assert no_line["prediction_correct"] is None and no_line["is_push"] is None
    assert (no_line["predicted_margin"], no_line["actual_margin"]) == (None, None)
    assert no_line["absolute_error"] == 4


def test_placeholder_lines_and_invalidated_predictions_are_not_graded(rows):
    assert ("alpha", "xgboost_v1", Decimal("20.0")) not in rows
    assert ("alpha", "catboost_v8", Decimal("24.5")) not in rows


@pytest.mark.parametrize(
    ("player", "reason", "actual_points"),
    [("bravo", "dnp_injury_confirmed", 0), ("charlie", "dnp_late_scratch", 0), ("delta", "dnp_unknown", None),
     ("foxtrot", "dnp_unknown", None)],
)
def test_players_who_did_not_play_are_voided_with_a_reason(rows, player, reason, actual_points):
    r = rows[(player, "catboost_v8", Decimal("18.5"))]
    assert (r["is_voided"], r["void_reason"], r["actual_points"]) == (True, reason, actual_points)
    assert r["absolute_error"] is None and r["prediction_correct"] is None and r["within_3_points"] is None


def test_repeated_source_predictions_grade_the_earliest_never_the_post_game_one(rows):
    echo = [r for k, r in rows.items() if k[0] == "echo"]
    assert len(echo) == 1
    assert echo[0]["predicted_points"] == 14 and echo[0]["recommendation"] == "UNDER"
    assert echo[0]["prediction_created_at"].hour == 15


def test_one_row_per_business_key(rows, warehouse):
    (dupes,) = fetch(
        warehouse,
        "SELECT COUNT(*) FROM (SELECT 1 FROM nba_predictions.prediction_accuracy "
        "GROUP BY player_lookup, game_id, system_id, line_value HAVING COUNT(*) > 1)",
    )[0]
    assert dupes == 0 and len(rows) == 10


def test_daily_performance_excludes_voids_and_pushes_from_win_rates(rows, warehouse):
    perf = {
        r[0]: r
        for r in fetch(
            warehouse,
            "SELECT system_id, predictions_count, recommendations_count, correct_count, incorrect_count, "
            "voided_count, push_count, win_rate, mae, pass_count FROM nba_predictions.system_daily_performance",
        )
    }
    # catboost_v8: alpha (correct), echo UNDER 15.5 vs 31 (wrong), bravo/charlie/delta/foxtrot voided.
    assert perf["catboost_v8"][1:] == (6, 6, 1, 1, 4, 0, 0.5, pytest.approx(9.5), 0)
    # ensemble_v1: a single push -> no decided prediction -> no win rate.
    assert perf["ensemble_v1"][3:8] == (0, 0, 0, 1, None)
    assert perf["zone_matchup"][9] == 1 and perf["moving_average_baseline"][9] == 1


def test_a_range_joins_each_prediction_to_the_actuals_of_its_own_date(warehouse):
    """A range is graded in one statement: a game id reused on another date (bad upstream data)
    must not match that date's box score too (it doubled every row before the join used game_date)."""
    import datetime as dt

    next_day = GAME_DATE + dt.timedelta(days=1)
    load(warehouse, [prediction("alpha"), prediction("alpha", game_date=next_day)],
         [actual("alpha", 25), actual("alpha", 12, game_date=next_day)], dates=[GAME_DATE, next_day])
    with warehouse.session() as session:
        publish_dates(session, GAME_DATE, next_day, policy=LENIENT)
    got = fetch(warehouse, "SELECT game_date, actual_points FROM nba_predictions.prediction_accuracy ORDER BY 1")
    assert got == [(GAME_DATE, 25), (next_day, 12)]

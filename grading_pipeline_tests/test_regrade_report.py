"""A re-grade says what it changed: per system, the grades whose prediction_correct, is_voided or
actual_points flipped, and the win rate before and after, in the date's metadata."""

from __future__ import annotations

from grading_pipeline_tests.support.warehouse_rows import ACTUALS, GAME_DATE, actual, frame, load, prediction
from grading_pipeline_tests.test_assets import ACCURACY, materialization_metadata

PLAYERS = ("alpha", "bravo", "charlie", "delta")


def test_a_stat_correction_regrade_reports_the_flipped_grades_per_system(grade, warehouse, instance):
    predictions = [prediction(p, system) for p in PLAYERS for system in ("catboost_v8", "zone_matchup")]
    load(warehouse, predictions, [actual(p, 20) for p in PLAYERS])  # line 18.5, OVER: all won
    grade(GAME_DATE)
    first = materialization_metadata(instance, ACCURACY, GAME_DATE.isoformat())
    assert "grades_changed" not in first  # a first grading changes nothing it could report

    # The NBA corrects two box scores: bravo scored 15 (a loss now), delta did not play.
    corrected = [actual("alpha", 20), actual("bravo", 15), actual("charlie", 20), actual("delta", 0, minutes=0.0)]
    warehouse.load_rows(ACTUALS, frame(ACTUALS, corrected), [GAME_DATE])
    grade(GAME_DATE)
    regraded = materialization_metadata(instance, ACCURACY, GAME_DATE.isoformat())
    assert regraded["grades_changed"] == 4  # 2 players x 2 systems
    assert regraded["grade_changes"] == ("catboost_v8: 2 grades changed, win rate 1.000 -> 0.667; "
                                         "zone_matchup: 2 grades changed, win rate 1.000 -> 0.667")

    grade(GAME_DATE)  # nothing changed since
    again = materialization_metadata(instance, ACCURACY, GAME_DATE.isoformat())
    assert again["grades_changed"] == 0 and "grade_changes" not in again

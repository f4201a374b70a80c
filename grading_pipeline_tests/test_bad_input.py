"""Bad input fails with a clear error and loses nothing; an empty day says so."""

from __future__ import annotations

import datetime as dt

import pytest

from grading_pipeline.errors import (
    ActualsNotLoadedError,
    BadInputError,
    EmptyReplaceError,
    InvalidPartitionKeyError,
    MissingPredictionsError,
    MissingTableError,
)
from grading_pipeline.grading import GradingPolicy, parse_game_date, publish_dates
from grading_pipeline.tables import PREDICTION_ACCURACY
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import ACTUALS, GAME_DATE, PREDICTIONS as PREDICTIONS_TABLE, actual, frame, load, prediction

POLICY = GradingPolicy()
OTHER_GAME = "20251103_LAL_BOS"


def graded_rows(warehouse, day=GAME_DATE) -> int:
    return fetch(warehouse, "SELECT COUNT(*) FROM nba_predictions.prediction_accuracy WHERE game_date = ?", [day])[0][0]


@pytest.fixture
def graded_day(warehouse):
    """A date graded once, completely, so that failures can be shown to leave it untouched."""
    load(warehouse, [prediction("alpha"), prediction("bravo", game_id=OTHER_GAME)],
         [actual("alpha", 25), actual("bravo", 12, game_id=OTHER_GAME)])
    assert grade(warehouse).committed
    assert graded_rows(warehouse) == 2
    return warehouse


def grade(warehouse, policy=POLICY, day=GAME_DATE):
    with warehouse.session() as session:
        return publish_dates(session, day, day, policy=policy)


def accuracy_summary(published, day=GAME_DATE) -> dict:
    (summary,) = published.publication.summaries[PREDICTION_ACCURACY.name].get(day, [{}])
    return summary


def test_a_missing_input_table_is_named(warehouse):
    warehouse.ensure_tables()  # outputs only: no input tables
    with pytest.raises(MissingTableError, match="player_prop_predictions"):
        grade(warehouse)


def test_a_partition_key_that_is_not_a_date_is_refused():
    with pytest.raises(InvalidPartitionKeyError, match="'2025-13-45' is not a date"):
        parse_game_date("2025-13-45")


def test_actuals_not_loaded_fails_without_voiding_the_day(graded_day):
    graded_day.load_rows(ACTUALS, frame(ACTUALS, []), [GAME_DATE])  # the box scores vanish
    with pytest.raises(ActualsNotLoadedError, match="actuals not loaded"):
        grade(graded_day)
    assert graded_rows(graded_day) == 2
    assert fetch(graded_day, "SELECT COUNT(*) FROM nba_predictions.prediction_accuracy WHERE is_voided")[0][0] == 0


def test_a_game_without_any_box_score_fails_unless_allowed(graded_day):
    graded_day.load_rows(ACTUALS, frame(ACTUALS, [actual("alpha", 25)]), [GAME_DATE])
    with pytest.raises(ActualsNotLoadedError, match="1 of 2 predicted game"):
        grade(graded_day, GradingPolicy(min_actuals_coverage=0.0))
    assert graded_rows(graded_day) == 2
    published = grade(graded_day, GradingPolicy(min_actuals_coverage=0.0, allow_games_without_actuals=True))
    assert accuracy_summary(published)["voided"] == 1


def test_coverage_below_the_threshold_fails(warehouse):
    players = [f"p{i}" for i in range(10)]
    load(warehouse, [prediction(p) for p in players], [actual(p, 10) for p in players[:7]])
    with pytest.raises(ActualsNotLoadedError, match="only 70.0%"):
        grade(warehouse, GradingPolicy(min_actuals_coverage=0.8))
    published = grade(warehouse, GradingPolicy(min_actuals_coverage=0.7))
    assert published.publication.rows_written[PREDICTION_ACCURACY.name] == 10
    assert accuracy_summary(published)["voided"] == 3


@pytest.mark.parametrize("column", ["player_lookup", "game_id", "system_id"])
def test_rows_with_null_key_columns_are_refused(graded_day, column):
    load(graded_day, [prediction("alpha"), prediction("zulu", **{column: None})], [actual("alpha", 25)],
         dates=[GAME_DATE])
    with pytest.raises(BadInputError, match="1 active prediction"):
        grade(graded_day)
    assert graded_rows(graded_day) == 2


def test_conflicting_actuals_are_refused_but_identical_copies_collapse(warehouse):
    load(warehouse, [prediction("alpha")], [actual("alpha", 25), actual("alpha", 25)])
    published = grade(warehouse)
    assert published.publication.rows_written[PREDICTION_ACCURACY.name] == 1
    assert accuracy_summary(published)["voided"] == 0
    load(warehouse, [prediction("alpha")], [actual("alpha", 25), actual("alpha", 27)])
    with pytest.raises(BadInputError, match="conflicting"):
        grade(warehouse)


def test_a_day_without_games_grades_zero_rows(graded_day):
    quiet_day = GAME_DATE + dt.timedelta(days=1)
    published = grade(graded_day, day=quiet_day)
    assert published.source_health == {} and published.committed
    assert published.publication.rows_written[PREDICTION_ACCURACY.name] == 0
    assert published.publication.rows_replaced[PREDICTION_ACCURACY.name] == {}
    assert graded_rows(graded_day) == 2  # other dates untouched


def test_box_scores_without_predictions_is_an_error_not_an_empty_day(warehouse):
    load(warehouse, [], [actual("alpha", 25)])
    with pytest.raises(MissingPredictionsError, match="no gradable predictions"):
        grade(warehouse)


def test_a_range_names_every_date_that_cannot_be_graded(warehouse):
    next_day = GAME_DATE + dt.timedelta(days=1)
    load(warehouse, [prediction("alpha"), prediction("alpha", game_date=next_day)], [])
    with pytest.raises(ActualsNotLoadedError, match="2 dates cannot be graded") as failure:
        with warehouse.session() as session:
            publish_dates(session, GAME_DATE, next_day, policy=POLICY)
    assert str(GAME_DATE) in str(failure.value) and str(next_day) in str(failure.value)


@pytest.mark.parametrize("column", ["team_abbr", "opponent_team_abbr"])
def test_box_score_rows_differing_in_team_are_a_conflict_not_a_fan_out(graded_day, column):
    """Compared on points, minutes and DNP only, such a pair joined twice and the date was replaced
    by duplicate business keys (issue 9, item 1)."""
    before = fetch(graded_day, "SELECT * EXCLUDE (graded_at) FROM nba_predictions.prediction_accuracy ORDER BY ALL")
    load(graded_day, [prediction("alpha"), prediction("bravo", game_id=OTHER_GAME)],
         [actual("alpha", 25), actual("alpha", 25, **{column: "XXX"}), actual("bravo", 12, game_id=OTHER_GAME)])
    with pytest.raises(BadInputError, match="1 \\(player_lookup, game_id\\) pair\\(s\\) have conflicting rows"):
        grade(graded_day)
    assert fetch(graded_day, "SELECT * EXCLUDE (graded_at) FROM nba_predictions.prediction_accuracy ORDER BY ALL") == before


def test_a_season_start_that_is_not_a_date_names_the_variable(monkeypatch):
    from grading_pipeline import settings

    monkeypatch.setenv("GRADING_SEASON_START", "notadate")
    with pytest.raises(ValueError, match="GRADING_SEASON_START must be a date \\(YYYY-MM-DD\\), not 'notadate'"):
        settings.season_start()


@pytest.mark.parametrize("recommendation, confidence, rule", [
    ("BUY", 0.6, "unknown_recommendation"), ("", 0.6, "unknown_recommendation"),
    ("OVER", -5.0, "confidence_out_of_range"),
])
def test_an_impossible_value_rolls_the_date_back_and_names_the_rule(graded_day, recommendation, confidence, rule):
    """The blocking check failed after the commit: the bad rows replaced the previous version."""
    before = fetch(graded_day, "SELECT * EXCLUDE (graded_at) FROM nba_predictions.prediction_accuracy ORDER BY ALL")
    load(graded_day, [prediction("alpha", recommendation=recommendation, confidence_score=confidence),
                      prediction("bravo", game_id=OTHER_GAME)],
         [actual("alpha", 25), actual("bravo", 12, game_id=OTHER_GAME)])
    published = grade(graded_day)
    assert not published.committed and "values_are_sane" in published.publication.blocked_by
    assert rule in published.failure_message() and "rolled back before COMMIT" in published.failure_message()
    assert fetch(graded_day, "SELECT * EXCLUDE (graded_at) FROM nba_predictions.prediction_accuracy ORDER BY ALL") == before


def test_a_model_version_mixing_confidence_scales_on_a_date_is_refused(graded_day):
    """The scale is decided per (system, model version, date): 150 beside 0.6 cannot be both."""
    before = fetch(graded_day, "SELECT * EXCLUDE (graded_at) FROM nba_predictions.prediction_accuracy ORDER BY ALL")
    load(graded_day, [prediction("alpha", confidence_score=150.0), prediction("bravo", game_id=OTHER_GAME)],
         [actual("alpha", 25), actual("bravo", 12, game_id=OTHER_GAME)])
    with pytest.raises(BadInputError, match="wrote confidence on both scales"):
        grade(graded_day)
    assert fetch(graded_day, "SELECT * EXCLUDE (graded_at) FROM nba_predictions.prediction_accuracy ORDER BY ALL") == before


def test_a_version_writing_0_100_reads_1_as_one_percent(warehouse):
    """Decided row by row, 1.0 from a 0-100 system read as 100% and 1.5 as 1.5%."""
    load(warehouse, [prediction("alpha", confidence_score=1.0, model_version="pct"),
                     prediction("bravo", confidence_score=65.0, model_version="pct"),
                     prediction("charlie", confidence_score=0.65, model_version="unit")],
         [actual("alpha", 25), actual("bravo", 25), actual("charlie", 25)])
    assert grade(warehouse).committed
    got = dict(fetch(warehouse, "SELECT player_lookup, confidence_score FROM nba_predictions.prediction_accuracy"))
    assert got == {"alpha": pytest.approx(0.01), "bravo": pytest.approx(0.65), "charlie": pytest.approx(0.65)}


@pytest.mark.parametrize("values, named", [
    ({"predicted_points": -3.0}, "predicted_points = -3"),
    ({"predicted_points": 1e9}, "predicted_points = 1000000000"),
    ({"confidence_score": "nan"}, "confidence_score = nan"),
])
def test_impossible_prediction_values_fail_the_date_naming_the_rows(graded_day, values, named):
    before = fetch(graded_day, "SELECT * EXCLUDE (graded_at) FROM nba_predictions.prediction_accuracy ORDER BY ALL")
    nan = values.get("confidence_score") == "nan"  # NaN travels through SQL only (a DataFrame makes it NULL)
    load(graded_day, [prediction("alpha", **({} if nan else values)), prediction("bravo", game_id=OTHER_GAME)],
         [actual("alpha", 25), actual("bravo", 12, game_id=OTHER_GAME)])
    if nan:
        with graded_day._connection() as con:
            con.execute("UPDATE nba_predictions.player_prop_predictions SET confidence_score = 'nan'::DOUBLE "
                        "WHERE player_lookup = 'alpha'")
    with pytest.raises(BadInputError, match="impossible values") as failure:
        grade(graded_day)
    assert named in str(failure.value).replace(".0", "") and "player alpha" in str(failure.value)
    assert fetch(graded_day, "SELECT * EXCLUDE (graded_at) FROM nba_predictions.prediction_accuracy ORDER BY ALL") == before


def test_negative_actual_points_fail_the_date(graded_day):
    load(graded_day, [prediction("alpha"), prediction("bravo", game_id=OTHER_GAME)],
         [actual("alpha", -4), actual("bravo", 12, game_id=OTHER_GAME)])
    with pytest.raises(BadInputError, match="1 box scores with points outside") as failure:
        grade(graded_day)
    assert "-4 points" in str(failure.value)
    assert graded_rows(graded_day) == 2


def test_a_graded_date_whose_inputs_vanished_is_not_emptied_unless_allowed(graded_day):
    """It succeeded and replaced the graded rows by nothing, said only in an INFO line."""
    graded_day.load_rows(PREDICTIONS_TABLE, frame(PREDICTIONS_TABLE, []), [GAME_DATE])
    graded_day.load_rows(ACTUALS, frame(ACTUALS, []), [GAME_DATE])
    with pytest.raises(EmptyReplaceError, match="2 graded rows.*allow_empty_replace"):
        grade(graded_day)
    assert graded_rows(graded_day) == 2
    assert grade(graded_day, GradingPolicy(allow_empty_replace=True)).committed
    assert graded_rows(graded_day) == 0


def test_a_post_game_prediction_is_never_chosen(warehouse):
    """With the pre-game row's created_at NULL, NULL sorted last and the next morning's row won."""
    import pandas as pd

    next_morning = pd.Timestamp(f"{GAME_DATE + dt.timedelta(days=1)} 09:00", tz="UTC")
    load(warehouse, [prediction("alpha", predicted_points=17.0, created_at=None),
                     prediction("alpha", predicted_points=25.0, created_at=next_morning),
                     prediction("bravo", predicted_points=17.0, created_at=None),
                     prediction("charlie", predicted_points=17.0),
                     prediction("charlie", predicted_points=25.0, created_at=next_morning)],
         [actual("alpha", 25), actual("bravo", 25), actual("charlie", 25)])
    published = grade(warehouse)
    got = dict(fetch(warehouse, "SELECT player_lookup, predicted_points FROM nba_predictions.prediction_accuracy"))
    # alpha: the post-game row is set aside, and so is the undated one beside it: nothing to grade.
    # bravo: undated but alone: graded. charlie: the pre-game row.
    assert got == {"bravo": 17, "charlie": 17}
    assert published.source_health[GAME_DATE]["post_game_or_undated_predictions"] == 3
    meta = published.metadata(PREDICTION_ACCURACY)[GAME_DATE]
    assert meta["post_game_or_undated_predictions"] == 3


@pytest.mark.parametrize("alter, named", [
    ("ALTER TABLE nba_predictions.player_prop_predictions ALTER predicted_points TYPE VARCHAR",
     "nba_predictions.player_prop_predictions.predicted_points: expected NUMERIC, found VARCHAR"),
    ("ALTER TABLE nba_analytics.player_game_summary DROP COLUMN minutes_played",
     "nba_analytics.player_game_summary.minutes_played: missing (expected FLOAT64)"),
])
def test_an_input_column_of_the_wrong_type_or_missing_names_table_column_and_types(graded_day, alter, named):
    """A VARCHAR predicted_points gave a binder error with 60 lines of candidate functions."""
    with graded_day._connection() as con:
        con.execute(alter)
    with pytest.raises(BadInputError) as failure:
        grade(graded_day)
    assert named in str(failure.value) and len(str(failure.value).splitlines()) <= 3
    assert graded_rows(graded_day) == 2


@pytest.mark.parametrize("make", ["folder", "not_duckdb", "under_a_file"])
def test_a_warehouse_path_that_cannot_be_a_duckdb_file_fails_at_once_with_the_path(tmp_path, make):
    """It was retried through the connection backoff for about 2 minutes, then a traceback."""
    import time

    from grading_pipeline.errors import WarehouseUnavailableError
    from grading_pipeline.warehouse import DuckDBWarehouse

    path = tmp_path / "warehouse.duckdb"
    if make == "folder":
        path.mkdir()
    elif make == "not_duckdb":
        path.write_text("this is a text file, not a database\n" * 100)
    else:
        (tmp_path / "a_file").write_text("x")
        path = tmp_path / "a_file" / "warehouse.duckdb"
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailableError, match=str(path).replace("/", ".")):
        with DuckDBWarehouse(database=str(path)).session():
            pass
    assert time.monotonic() - started < 5


def test_a_warehouse_held_by_another_process_is_waited_for_then_named(tmp_path):
    import subprocess
    import sys
    import time

    from grading_pipeline.errors import WarehouseUnavailableError
    from grading_pipeline.warehouse import DuckDBWarehouse

    path = tmp_path / "warehouse.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(path)!r}); "
                               "print('held', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(WarehouseUnavailableError, match="held by another process"):
            with DuckDBWarehouse(database=str(path), open_timeout_seconds=1.0).session():
                pass
        assert 0.5 < time.monotonic() - started < 5  # waited about the timeout, not minutes
    finally:
        holder.kill()
        holder.wait()

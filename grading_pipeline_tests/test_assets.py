"""Both assets through Dagster on the sample season: single dates, range backfills, re-runs."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from dagster import AssetKey

from grading_pipeline.cli import step_failures
from grading_pipeline.tables import WRITE_STAMP_COLUMNS
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import load_season

START = dt.date(2025, 10, 21)
DAYS = 10
ACCURACY = AssetKey(["nba_predictions", "prediction_accuracy"])
PERFORMANCE = AssetKey(["nba_predictions", "system_daily_performance"])


@pytest.fixture
def season(warehouse):
    season = load_season(warehouse, START, DAYS, 300, 3)
    return season


def table(warehouse, name: str) -> pd.DataFrame:
    with warehouse._connection() as con:
        return con.execute(f"SELECT * FROM nba_predictions.{name} ORDER BY ALL").df()


def content(frame: pd.DataFrame) -> pd.DataFrame:
    """A table's rows without the timestamps of when they were computed, and who wrote them."""
    stamps = ("graded_at", "computed_at", *WRITE_STAMP_COLUMNS)
    return frame.drop(columns=[c for c in stamps if c in frame]).reset_index(drop=True)


def materialization_metadata(instance, key: AssetKey, partition: str) -> dict:
    record = instance.fetch_materializations(key, limit=100).records
    latest = next(r for r in record if r.partition_key == partition)
    return {k: v.value for k, v in latest.asset_materialization.metadata.items()}


def test_a_single_date_materializes_both_assets_with_plottable_metadata(season, grade, instance, warehouse):
    day = season.game_dates[0]
    result = grade(day)
    assert result.success
    meta = materialization_metadata(instance, ACCURACY, day.isoformat())
    graded = fetch(warehouse, "SELECT COUNT(*), COUNT_IF(is_voided), COUNT_IF(is_push) FROM "
                              "nba_predictions.prediction_accuracy WHERE game_date = ?", [day])[0]
    assert (meta["rows_graded"], meta["voided"], meta["pushes"]) == graded
    assert graded[0] > 200 and graded[1] > 0 and graded[2] > 0
    for name in ("rows_replaced", "without_actuals", "mae", "win_rate", "seconds", "lock_wait_seconds", "lock_fencing_token"):
        assert isinstance(meta[name], (int, float)), name
    assert meta["duplicate_source_rows"] > 0  # the sample repeats predictions; exactly one is graded
    perf = materialization_metadata(instance, PERFORMANCE, day.isoformat())
    assert perf["systems"] == fetch(warehouse, "SELECT COUNT(DISTINCT system_id) FROM "
                                                    "nba_predictions.prediction_accuracy WHERE game_date = ?", [day])[0][0]


def test_a_single_run_range_backfill_equals_one_run_per_date(season, grade, instance, warehouse, tmp_path):
    end = START + dt.timedelta(days=DAYS - 1)
    assert grade(START, end).success
    ranged = (content(table(warehouse, "prediction_accuracy")), content(table(warehouse, "system_daily_performance")))
    # Every partition of the range is materialized, each with its own date's figures.
    per_day = ranged[0].groupby(ranged[0].game_date.dt.date).size()
    for i in range(DAYS):
        day = START + dt.timedelta(days=i)
        meta = materialization_metadata(instance, ACCURACY, day.isoformat())
        assert meta["rows_graded"] == per_day.get(day, 0) and "seconds" not in meta
        assert meta["lock_held"] is True and isinstance(meta["lock_fencing_token"], int)
        assert materialization_metadata(instance, PERFORMANCE, day.isoformat())["systems"] == (
            ranged[0][ranged[0].game_date.dt.date == day].system_id.nunique())
    with warehouse._connection() as con:
        con.execute("DELETE FROM nba_predictions.prediction_accuracy; DELETE FROM nba_predictions.system_daily_performance")
    for i in range(DAYS):
        assert grade(START + dt.timedelta(days=i)).success
    pd.testing.assert_frame_equal(ranged[0], content(table(warehouse, "prediction_accuracy")))
    pd.testing.assert_frame_equal(ranged[1], content(table(warehouse, "system_daily_performance")))
    off_days = sorted(set(START + dt.timedelta(days=i) for i in range(DAYS)) - set(season.game_dates))
    assert off_days, "the sample season should contain a day without games"
    assert set(ranged[0]["game_date"].dt.date) == set(season.game_dates)


def test_rematerializing_a_date_replaces_exactly_that_date(season, grade, warehouse):
    first, second = season.game_dates[:2]
    assert grade(first, second).success
    before = table(warehouse, "prediction_accuracy")
    for _ in range(5):
        assert grade(second).success
    after = table(warehouse, "prediction_accuracy")
    untouched = before[before.game_date.dt.date == first]
    pd.testing.assert_frame_equal(untouched.reset_index(drop=True),
                                  after[after.game_date.dt.date == first].reset_index(drop=True))
    pd.testing.assert_frame_equal(content(before), content(after))
    assert (after[after.game_date.dt.date == second].graded_at > before.graded_at.max()).all()


def test_daily_performance_agrees_with_an_independent_computation(season, grade, warehouse):
    assert grade(START, START + dt.timedelta(days=DAYS - 1)).success
    graded = table(warehouse, "prediction_accuracy")
    perf = table(warehouse, "system_daily_performance").set_index(["game_date", "system_id"])
    for (day, system), rows in graded.groupby(["game_date", "system_id"]):
        decided = rows[rows.prediction_correct.notna()]
        expected_win = round(decided.prediction_correct.astype(bool).mean(), 3) if len(decided) else None
        played = rows[rows.absolute_error.notna()].absolute_error.astype(float)
        over = decided[decided.recommendation == "OVER"]
        got = perf.loc[(day, system)]
        assert got.predictions_count == len(rows)
        assert got.voided_count == rows.is_voided.sum()
        assert got.correct_count + got.incorrect_count == len(decided)
        assert (pd.isna(got.win_rate) and expected_win is None) or got.win_rate == pytest.approx(expected_win)
        # SQL rounds the exact decimal mean half away from zero; Python's round() works on a float.
        assert got.mae == pytest.approx(played.mean(), abs=0.0051)
        if len(over):
            assert got.over_win_rate == pytest.approx(round(over.prediction_correct.astype(bool).mean(), 3))


def test_a_failed_date_fails_the_run_and_keeps_both_tables(season, grade, warehouse):
    day = season.game_dates[0]
    assert grade(day).success
    before = [table(warehouse, t) for t in ("prediction_accuracy", "system_daily_performance")]
    with warehouse._connection() as con:
        con.execute("DELETE FROM nba_analytics.player_game_summary WHERE game_date = ?", [day])
    result = grade(day, raise_on_error=False)
    assert not result.success and not result.get_asset_materialization_events()
    ((step, message),) = step_failures(result)
    assert step == "grade_game_dates" and "ActualsNotLoadedError" in message and "actuals not loaded" in message
    for frame, name in zip(before, ("prediction_accuracy", "system_daily_performance")):
        pd.testing.assert_frame_equal(frame, table(warehouse, name))


def test_the_coverage_threshold_is_run_config(season, grade, warehouse):
    day = season.game_dates[0]
    config = {"ops": {"grade_game_dates": {"config": {"min_actuals_coverage": 1.0}}}}
    result = grade(day, raise_on_error=False, run_config=config)
    assert not result.success  # the sample has predicted players missing from the box score


def test_either_asset_alone_keeps_the_two_tables_consistent(season, grade, instance, warehouse):
    from grading_pipeline.tables import PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE

    day = season.game_dates[0]
    assert grade(day).success
    with warehouse._connection() as con:  # new grades upstream, aggregate now stale
        con.execute("UPDATE nba_predictions.player_prop_predictions SET predicted_points = predicted_points + 7 "
                    "WHERE game_date = ?", [day])
    result = grade(day, selection=[PREDICTION_ACCURACY.asset_key])
    assert result.success
    # Grading alone re-aggregated the date in the same transaction, and says so.
    materialized = sorted((e.asset_key.path[-1], e.partition) for e in result.get_asset_materialization_events())
    assert materialized == [(name, str(day)) for name in ("prediction_accuracy", "system_daily_performance", "system_scorecard")]
    disagreements = fetch(warehouse, "SELECT COUNT(*) FROM nba_predictions.system_daily_performance p JOIN "
                                     "(SELECT game_date, system_id, ROUND(AVG(absolute_error), 2) AS mae FROM "
                                     "nba_predictions.prediction_accuracy GROUP BY ALL) g USING (game_date, system_id) "
                                     "WHERE p.mae IS DISTINCT FROM g.mae")[0][0]
    assert disagreements == 0
    # Aggregating alone leaves the grades as they are.
    graded = table(warehouse, "prediction_accuracy")
    result = grade(day, selection=[SYSTEM_DAILY_PERFORMANCE.asset_key])
    assert result.success
    assert [e.asset_key.path[-1] for e in result.get_asset_materialization_events()] == ["system_daily_performance"]
    assert {e.check_name for e in result.get_asset_check_evaluations()} == {
        "one_row_per_system_and_date", "counts_agree_with_prediction_accuracy"}
    pd.testing.assert_frame_equal(graded, table(warehouse, "prediction_accuracy"))


def test_a_check_run_alone_audits_the_stored_rows_and_writes_nothing(season, grade, instance, warehouse, partition_lock):
    from dagster import AssetCheckKey, Definitions

    from grading_pipeline.assets import grade_game_dates
    from grading_pipeline.tables import PREDICTION_ACCURACY

    day = season.game_dates[0]
    assert grade(day).success
    with warehouse._connection() as con:  # duplicates slipped into the stored table by other means
        con.execute("INSERT INTO nba_predictions.prediction_accuracy SELECT * FROM nba_predictions.prediction_accuracy "
                    "WHERE game_date = ? LIMIT 2", [day])
    before = table(warehouse, "prediction_accuracy")
    job = Definitions(assets=[grade_game_dates], resources={"warehouse": warehouse, "partition_lock": partition_lock}
                      ).resolve_implicit_global_asset_job_def()
    check = AssetCheckKey(PREDICTION_ACCURACY.asset_key, "no_duplicate_business_keys")
    result = job.get_subset(asset_selection=set(), asset_check_selection={check}).execute_in_process(
        instance=instance, partition_key=str(day), raise_on_error=False)
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.partition == str(day)
    assert evaluation.metadata["duplicate_keys"].value == 2 and "stored rows" in evaluation.metadata["audited"].value
    assert not result.get_asset_materialization_events()
    pd.testing.assert_frame_equal(before, table(warehouse, "prediction_accuracy"))

"""Asset checks: duplicates (NULL-safe) block the aggregate; the sweep is a deployment gate."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import AssetCheckKey, AssetKey

from grading_pipeline import cli
from grading_pipeline.checks import NO_DUPLICATE_BUSINESS_KEYS
from grading_pipeline.sample_data import generate_season
from grading_pipeline.warehouse.duckdb_warehouse import DuckDBSession
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import ACTUALS, GAME_DATE, PREDICTIONS, actual, load, prediction

ACCURACY = AssetKey(["nba_predictions", "prediction_accuracy"])
DUPLICATE_CHECK = AssetCheckKey(ACCURACY, NO_DUPLICATE_BUSINESS_KEYS)
START = dt.date(2025, 10, 21)


@pytest.fixture
def season(warehouse):
    season = generate_season(START, 5, predictions_per_day=300, seed=5)
    warehouse.ensure_tables(include_inputs=True)
    warehouse.load_rows(PREDICTIONS, season.predictions)
    warehouse.load_rows(ACTUALS, season.actuals)
    return season


def evaluations(result) -> dict[str, object]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


@pytest.fixture
def duplicating_writer(monkeypatch):
    """A writer bug: copies of some graded rows (one with a NULL line_value) slip in before COMMIT."""
    commit = DuckDBSession._commit

    def commit_with_duplicates(self):
        self.con.execute(
            "INSERT INTO nba_predictions.prediction_accuracy "
            "SELECT * FROM nba_predictions.prediction_accuracy "
            "WHERE (line_value IS NULL AND player_lookup = (SELECT MIN(player_lookup) FROM nba_predictions.prediction_accuracy WHERE line_value IS NULL)) "
            "   OR player_lookup IN (SELECT DISTINCT player_lookup FROM nba_predictions.prediction_accuracy "
            "                        WHERE line_value IS NOT NULL ORDER BY 1 LIMIT 2)"
        )
        commit(self)

    monkeypatch.setattr(DuckDBSession, "_commit", commit_with_duplicates)


def test_duplicates_fail_the_blocking_check_and_skip_the_aggregate(season, grade, warehouse, duplicating_writer):
    day = season.game_dates[0]
    result = grade(day, raise_on_error=False)
    assert not result.success
    check = evaluations(result)[NO_DUPLICATE_BUSINESS_KEYS]
    (expected_keys,) = fetch(
        warehouse,
        "SELECT COUNT(*) FROM (SELECT 1 FROM nba_predictions.prediction_accuracy WHERE game_date = ? "
        "GROUP BY player_lookup, game_id, system_id, line_value HAVING COUNT(*) > 1)", [day],
    )[0:1][0]
    meta = {k: v.value for k, v in check.metadata.items()}
    assert not check.passed and meta["duplicate_keys"] == expected_keys > 2
    assert meta["extra_rows"] == expected_keys and meta["game_date"] == day.isoformat()
    assert any(k["line_value"] is None for k in meta["sample_keys"])
    assert all(len(k["graded_at"]) == k["copies"] == 2 for k in meta["sample_keys"])
    assert check.partition == day.isoformat()
    assert fetch(warehouse, "SELECT COUNT(*) FROM nba_predictions.system_daily_performance")[0][0] == 0


def test_many_distinct_keys_with_a_null_line_pass(season, grade, warehouse):
    day = season.game_dates[0]
    result = grade(day)
    assert evaluations(result)[NO_DUPLICATE_BUSINESS_KEYS].passed
    rows, null_lines, concat_keys = fetch(
        warehouse,
        # BigQuery's CONCAT is NULL when any part is NULL, like DuckDB's || (DuckDB's CONCAT skips NULLs).
        "SELECT COUNT(*), COUNT_IF(line_value IS NULL), COUNT(DISTINCT player_lookup || '|' || game_id || '|' || "
        "system_id || '|' || CAST(line_value AS VARCHAR)) FROM nba_predictions.prediction_accuracy",
    )[0]
    # The old check's arithmetic: rows whose key had a NULL line dropped out of the distinct count,
    # so unique keys looked fewer than rows and it reported them as duplicates.
    assert null_lines >= 8 and rows - concat_keys == null_lines
    assert {n: e.passed for n, e in evaluations(result).items() if not e.passed} == {}, {n: {k: v.value for k, v in e.metadata.items()} for n, e in evaluations(result).items() if not e.passed}


def test_two_rows_with_the_same_key_and_a_null_line_fail(warehouse, grade, monkeypatch):
    load(warehouse, [prediction("alpha", current_points_line=None, recommendation="NO_LINE")], [actual("alpha", 25)])
    commit = DuckDBSession._commit

    def commit_twice(self):
        self.con.execute("INSERT INTO nba_predictions.prediction_accuracy SELECT * FROM nba_predictions.prediction_accuracy")
        commit(self)

    monkeypatch.setattr(DuckDBSession, "_commit", commit_twice)
    result = grade(GAME_DATE, raise_on_error=False)
    check = evaluations(result)[NO_DUPLICATE_BUSINESS_KEYS]
    assert not check.passed and check.metadata["duplicate_keys"].value >= 1


def test_performance_counts_are_checked_against_prediction_accuracy(season, grade, monkeypatch):
    commit = DuckDBSession._commit

    def commit_with_a_miscount(self):
        # An aggregation bug: one system's correct_count off by one.
        self.con.execute("UPDATE nba_predictions.system_daily_performance SET correct_count = correct_count + 1 "
                         "WHERE system_id = 'catboost_v8'")
        commit(self)

    monkeypatch.setattr(DuckDBSession, "_commit", commit_with_a_miscount)
    result = grade(season.game_dates[0], raise_on_error=False)
    check = evaluations(result)["counts_agree_with_prediction_accuracy"]
    assert not check.passed and check.metadata["disagreeing_pairs"].value == 1
    assert check.metadata["sample"].value[0]["system_id"] == "catboost_v8"


def test_the_sweep_is_a_deployment_gate(season, grade, warehouse, monkeypatch, capsys):
    monkeypatch.setenv("GRADING_DUCKDB_PATH", warehouse.database)
    end = START + dt.timedelta(days=4)
    assert grade(START, end).success
    assert cli.main(["sweep", "--days", "7", "--end", end.isoformat()]) == 0
    assert "OK: no duplicate business keys" in capsys.readouterr().out
    with warehouse._connection() as con:
        con.execute("INSERT INTO nba_predictions.prediction_accuracy SELECT * FROM nba_predictions.prediction_accuracy "
                    "WHERE game_date = ? AND line_value IS NULL", [season.game_dates[1]])
    assert cli.main(["sweep", "--days", "7", "--end", end.isoformat()]) == 1
    out = capsys.readouterr().out
    assert f"{season.game_dates[1]}:" in out and "FAIL" in out

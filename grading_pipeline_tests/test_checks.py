"""Asset checks, evaluated on the new rows before COMMIT: a failed blocking check rolls the write
back (the previous version of the date stays) and is recorded on that date's partition; the
duplicate check is NULL-safe; the sweep is a deployment gate."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from dagster import AssetCheckKey, AssetKey

from grading_pipeline import cli
from grading_pipeline.audits import NO_DUPLICATE_BUSINESS_KEYS as DUPLICATE_AUDIT
from grading_pipeline.warehouse.duckdb_warehouse import DuckDBSession
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, load_season, prediction

NO_DUPLICATE_BUSINESS_KEYS = DUPLICATE_AUDIT.name

ACCURACY = AssetKey(["nba_predictions", "prediction_accuracy"])
DUPLICATE_CHECK = AssetCheckKey(ACCURACY, NO_DUPLICATE_BUSINESS_KEYS)
START = dt.date(2025, 10, 21)


@pytest.fixture
def season(warehouse):
    season = load_season(warehouse, START, 5, 300, 5)
    return season


def evaluations(result) -> dict[str, object]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def corrupt_staged_rows(monkeypatch, sql: str) -> None:
    """A grading bug: `sql` changes the new rows after they are written, before the audits."""

    def staged(self, writes):
        self.con.execute(sql)

    monkeypatch.setattr(DuckDBSession, "_staged", staged)


def table_rows(warehouse, table: str) -> list[tuple]:
    return fetch(warehouse, f"SELECT * EXCLUDE (graded_at) FROM nba_predictions.{table} ORDER BY ALL"
                 if table == "prediction_accuracy" else f"SELECT * EXCLUDE (computed_at) FROM nba_predictions.{table} ORDER BY ALL")


def test_duplicates_in_the_new_rows_roll_back_the_write_and_fail_on_that_partition(season, grade, warehouse, monkeypatch):
    day = season.game_dates[0]
    assert grade(day).success
    before = {t: table_rows(warehouse, t) for t in ("prediction_accuracy", "system_daily_performance")}
    copied = ("WHERE (line_value IS NULL AND player_lookup = (SELECT MIN(player_lookup) FROM nba_predictions.prediction_accuracy "
              "WHERE line_value IS NULL)) OR player_lookup IN (SELECT DISTINCT player_lookup FROM "
              "nba_predictions.prediction_accuracy WHERE line_value IS NOT NULL ORDER BY 1 LIMIT 2)")
    # The new rows of the re-run are the same as the committed ones: each copied row is one duplicate.
    (expected_keys,) = fetch(warehouse, f"SELECT COUNT(*) FROM nba_predictions.prediction_accuracy {copied}")[0]
    corrupt_staged_rows(monkeypatch, f"INSERT INTO nba_predictions.prediction_accuracy "
                                     f"SELECT * FROM nba_predictions.prediction_accuracy {copied}")
    result = grade(day, raise_on_error=False)
    assert not result.success and expected_keys > 2
    ((step, message),) = cli.step_failures(result)
    assert step == "grade_game_dates" and message.startswith("AuditFailedError")
    assert f"{day}: blocking check no_duplicate_business_keys failed" in message and "rolled back before COMMIT" in message
    check = evaluations(result)[NO_DUPLICATE_BUSINESS_KEYS]
    meta = {k: v.value for k, v in check.metadata.items()}
    assert not check.passed and check.partition == day.isoformat()
    assert meta["duplicate_keys"] == meta["extra_rows"] == expected_keys
    assert meta["published"] is False and meta["game_date"] == day.isoformat()
    sample = json.loads(meta["sample_keys"])
    assert any(k["line_value"] is None for k in sample)
    assert all(k["copies"] == 2 and k["first_graded_at"] == k["last_graded_at"] for k in sample)  # copied in one write
    # Nothing was published: both tables keep the previous version, row for row.
    assert {t: table_rows(warehouse, t) for t in before} == before
    assert not result.get_asset_materialization_events()


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
    corrupt_staged_rows(monkeypatch, "INSERT INTO nba_predictions.prediction_accuracy SELECT * FROM nba_predictions.prediction_accuracy")
    result = grade(GAME_DATE, raise_on_error=False)
    check = evaluations(result)[NO_DUPLICATE_BUSINESS_KEYS]
    assert not check.passed and check.metadata["duplicate_keys"].value == 1
    assert fetch(warehouse, "SELECT COUNT(*) FROM nba_predictions.prediction_accuracy")[0][0] == 0


def test_performance_counts_are_checked_against_prediction_accuracy(season, grade, warehouse, monkeypatch):
    # An aggregation bug: one system's correct_count off by one.
    corrupt_staged_rows(monkeypatch, "UPDATE nba_predictions.system_daily_performance SET correct_count = correct_count + 1 "
                                     "WHERE system_id = 'catboost_v8'")
    result = grade(season.game_dates[0], raise_on_error=False)
    check = evaluations(result)["counts_agree_with_prediction_accuracy"]
    assert not check.passed and check.metadata["disagreeing_pairs"].value == 1
    assert json.loads(check.metadata["sample"].value)[0]["system_id"] == "catboost_v8"
    assert fetch(warehouse, "SELECT COUNT(*) FROM nba_predictions.system_daily_performance")[0][0] == 0


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


@pytest.mark.parametrize("days", ["0", "-1"])
def test_a_sweep_of_less_than_one_day_is_refused(season, grade, warehouse, monkeypatch, capsys, days):
    """It checked nothing and said OK (exit 0) with duplicates present."""
    monkeypatch.setenv("GRADING_DUCKDB_PATH", warehouse.database)
    assert cli.main(["sweep", "--days", days, "--end", START.isoformat()]) == 2
    assert "at least one day" in capsys.readouterr().err


def test_an_asset_downstream_of_the_grades_runs_after_them_and_not_after_a_blocked_write(
        season, warehouse, partition_lock, instance, monkeypatch, caplog):
    # A user's own asset on prediction_accuracy, in the same run. The step records its checks as
    # AssetCheckEvaluations (one per date) and yields each check's output, as Dagster does with an
    # AssetCheckResult: no "did not yield or return expected outputs" in the run's log, no "will
    # proceed without gating" warning, and the downstream asset does not run after a refused write.
    from dagster import asset, materialize

    from grading_pipeline.assets import grade_game_dates
    from grading_pipeline.partitions import game_date_partitions

    ran: list[str] = []
    day = season.game_dates[0].isoformat()

    @asset(deps=[ACCURACY], partitions_def=game_date_partitions)
    def users_report_of_grades(context) -> None:
        ran.append(context.partition_key)

    def run():
        return materialize([grade_game_dates, users_report_of_grades], partition_key=day, instance=instance,
                           resources={"warehouse": warehouse, "partition_lock": partition_lock}, raise_on_error=False)

    published = run()
    assert published.success and ran == [day]
    logged = [r.user_message for r in instance.all_logs(published.run_id)]
    assert any("published" in m for m in logged) and not [m for m in logged if "did not yield" in m]
    assert "will proceed without gating" not in caplog.text
    outputs = {e.event_specific_data.step_output_handle.output_name for e in published.all_events
               if e.event_type_value == "STEP_OUTPUT" and e.step_key == "grade_game_dates"}
    checks = {e.asset_check_key for e in published.get_asset_check_evaluations()}
    assert len(checks) == 9 and {grade_game_dates.get_output_name_for_asset_check_key(k) for k in checks} <= outputs

    corrupt_staged_rows(monkeypatch, "INSERT INTO nba_predictions.prediction_accuracy SELECT * FROM nba_predictions.prediction_accuracy")
    refused = run()
    assert not refused.success and not evaluations(refused)[NO_DUPLICATE_BUSINESS_KEYS].passed
    assert ran == [day]  # not run again
    assert "users_report_of_grades" not in {e.step_key for e in refused.all_events if e.event_type_value == "STEP_START"}

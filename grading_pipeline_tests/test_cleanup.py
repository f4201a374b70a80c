"""The duplicate cleanup on a table seeded with the seed's pattern."""

from __future__ import annotations

import datetime as dt

import pytest

from grading_pipeline import cli
from grading_pipeline.cleanup import DEDUPLICATED_TABLE, report
from grading_pipeline.warehouse.duckdb_warehouse import DuckDBSession
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import load_season

START = dt.date(2025, 10, 21)
DAYS = 6


@pytest.fixture
def dirty(warehouse, grade, monkeypatch, tmp_path):
    """A graded season, then the old system's failure: some dates graded 2-3 times over (later
    graded_at), while rows whose line_value is NULL are many distinct keys, not duplicates."""
    season = load_season(warehouse, START, DAYS, 300, 9)
    assert grade(START, START + dt.timedelta(days=DAYS - 1)).success
    dirty_dates = season.game_dates[1:4:2]  # two non-adjacent dates: the date between stays clean
    with warehouse._connection() as con:
        for copies, day in enumerate(dirty_dates, start=1):
            for n in range(copies):
                con.execute(
                    "INSERT INTO nba_predictions.prediction_accuracy SELECT * REPLACE "
                    f"(graded_at + INTERVAL {n + 1} HOUR AS graded_at) FROM nba_predictions.prediction_accuracy "
                    "WHERE game_date = ? AND graded_at = (SELECT MIN(graded_at) FROM nba_predictions.prediction_accuracy "
                    "WHERE game_date = ?)", [day, day])
    monkeypatch.setenv("GRADING_DUCKDB_PATH", warehouse.database)
    monkeypatch.setenv("GRADING_LOCK_PATH", str(tmp_path / "locks.sqlite"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # no .dagster_home here: a temporary instance
    return season, dirty_dates


def table_state(warehouse):
    return fetch(warehouse, "SELECT COUNT(*), COUNT(DISTINCT (player_lookup, game_id, system_id, line_value)), "
                            "MAX(graded_at) FROM nba_predictions.prediction_accuracy")[0]


def test_dry_run_reports_and_changes_nothing(dirty, warehouse, capsys):
    _, dirty_dates = dirty
    before = table_state(warehouse)
    found = report(warehouse)
    assert found.affected_dates == dirty_dates and found.rows == before[0] and found.unique_keys == before[1]
    assert cli.main(["cleanup", "--dry-run"]) == 0
    assert "'dry_run': True" in capsys.readouterr().out
    assert table_state(warehouse) == before


def test_cleanup_keeps_the_earliest_copy_backs_up_and_recomputes_performance(dirty, warehouse, capsys):
    _, dirty_dates = dirty
    rows, keys, _ = table_state(warehouse)
    assert rows > keys
    earliest = fetch(warehouse, "SELECT MIN(graded_at) FROM nba_predictions.prediction_accuracy")[0][0]
    computed_before = dict(fetch(warehouse, "SELECT game_date, MAX(computed_at) FROM "
                                            "nba_predictions.system_daily_performance GROUP BY 1"))
    assert cli.main(["cleanup"]) == 0
    out = capsys.readouterr().out
    after_rows, after_keys, latest = table_state(warehouse)
    assert after_rows == after_keys == keys
    # The later copies (graded_at + 1..2 h) are gone: no row is newer than the original grading.
    assert latest < earliest + dt.timedelta(hours=1)
    backups = [t for (t,) in fetch(warehouse, "SELECT table_name FROM information_schema.tables "
                                              "WHERE table_name LIKE 'prediction_accuracy_backup_%'")]
    assert len(backups) == 1 and backups[0] in out
    assert fetch(warehouse, f"SELECT COUNT(*) FROM nba_predictions.{backups[0]}")[0][0] == rows
    assert fetch(warehouse, f"SELECT COUNT(*) FROM information_schema.tables WHERE table_name = "
                            f"'{DEDUPLICATED_TABLE.split('.')[1]}'")[0][0] == 0
    computed_after = dict(fetch(warehouse, "SELECT game_date, MAX(computed_at) FROM "
                                           "nba_predictions.system_daily_performance GROUP BY 1"))
    # The dates of the swapped span (dirty dates and the clean one between) are re-aggregated;
    # dates outside it are untouched.
    span = {d for d in computed_before if dirty_dates[0] <= d <= dirty_dates[-1]}
    assert {d for d in computed_after if computed_after[d] > computed_before[d]} == span
    assert len(span) > len(dirty_dates) and len(computed_before) > len(span)
    disagreements = fetch(warehouse, "SELECT COUNT(*) FROM nba_predictions.system_daily_performance p JOIN "
                                     "(SELECT game_date, system_id, COUNT(*) n FROM nba_predictions.prediction_accuracy "
                                     "GROUP BY 1, 2) g USING (game_date, system_id) WHERE p.predictions_count <> g.n")
    assert disagreements[0][0] == 0
    # Restoring the backup is one command.
    assert cli.main(["cleanup", "--restore", f"nba_predictions.{backups[0]}"]) == 0
    assert table_state(warehouse)[0] == rows


def test_a_failed_validation_leaves_the_original_untouched(dirty, warehouse, monkeypatch, capsys):
    before = table_state(warehouse)
    create = DuckDBSession.create_table_as

    def lossy_copy(self, table, sql_name, params):
        count = create(self, table, sql_name, params)
        if table == DEDUPLICATED_TABLE:  # a bug that loses one key
            self.con.execute(f"DELETE FROM {table} WHERE rowid = (SELECT MIN(rowid) FROM {table})")
        return count

    monkeypatch.setattr(DuckDBSession, "create_table_as", lossy_copy)
    assert cli.main(["cleanup"]) == 1
    assert "Validation failed, original untouched" in capsys.readouterr().err
    assert table_state(warehouse) == before


def test_a_game_id_repeated_across_dates_is_no_duplicate_for_the_checks_the_sweep_or_the_cleanup(warehouse, grade, capsys, monkeypatch, tmp_path):
    """The business key includes game_date (sql/macros/business_key.sql): the same (player, game,
    system, line) on two dates is two legitimate rows. Grouped without game_date, the range check
    reported a false duplicate and the cleanup deleted one of them."""
    from grading_pipeline.checks import sweep
    from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, prediction

    next_day = GAME_DATE + dt.timedelta(days=1)
    load(warehouse, [prediction("alpha"), prediction("alpha", game_date=next_day)],
         [actual("alpha", 25), actual("alpha", 12, game_date=next_day)], dates=[GAME_DATE, next_day])
    result = grade(GAME_DATE, next_day)
    assert result.success
    duplicate_checks = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_duplicate_business_keys"]
    assert sorted(e.partition for e in duplicate_checks) == [str(GAME_DATE), str(next_day)]
    assert all(e.passed for e in duplicate_checks)
    with warehouse.session() as session:
        assert sweep(session, GAME_DATE, next_day).duplicate_keys == 0
    assert report(warehouse).duplicate_keys == 0

    # A real duplicate on the first date: the cleanup removes it and keeps the second date's row.
    with warehouse._connection() as con:
        con.execute("INSERT INTO nba_predictions.prediction_accuracy SELECT * REPLACE (graded_at + INTERVAL 1 HOUR AS graded_at) "
                    "FROM nba_predictions.prediction_accuracy WHERE game_date = ?", [GAME_DATE])
    monkeypatch.setenv("GRADING_DUCKDB_PATH", warehouse.database)
    monkeypatch.setenv("GRADING_LOCK_PATH", str(tmp_path / "locks.sqlite"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # no .dagster_home here: a temporary instance
    assert report(warehouse).duplicate_keys == 1
    assert cli.main(["cleanup"]) == 0
    rows = fetch(warehouse, "SELECT game_date, game_id, actual_points FROM nba_predictions.prediction_accuracy ORDER BY 1")
    assert rows == [(GAME_DATE, "20251103_BKN_MIL", 25), (next_day, "20251103_BKN_MIL", 12)]

"""`make bench` itself: run whole at a tiny size, so that a change to the grading that breaks the
benchmark (as the provenance parameters once did: the bare SQL lacked them) fails here, not in a
user's `make bench`. The figures are not judged: a timed test on a shared machine proves nothing."""

from __future__ import annotations

import duckdb

from grading_pipeline import bench


def test_the_benchmark_runs_every_figure_and_prints_them(tmp_path, capsys):
    # The UI's Materialize through a real dagster dev; its backfill (a minute of daemon ticks) is
    # left to make bench itself.
    figures = bench.run_benchmark(season_days=3, season_per_day=40, repeats=1, ui=True, ui_backfill=False)
    bench.print_benchmark(figures)
    printed = capsys.readouterr().out
    assert figures["season_days"] == 3
    for key in ("import_dagster", "trivial_launched", "one_launched", "one_bare_sql", "one_in_process",
                "season_bare_sql", "season_launched", "season_in_process", "season_transaction", "ui_run_done"):
        assert figures[key] > 0, key
    assert figures["ui_run_started"] < figures["ui_run_done"]
    assert "ONE DATE launched" in printed and "3-DAY SEASON" in printed and "LAUNCHED FROM THE UI" in printed


def test_the_bare_sql_writes_the_same_rows_as_the_grading(tmp_path):
    prepared = bench.prepare(tmp_path, 2, 40)
    bench.bare_sql_seconds(prepared)
    with duckdb.connect(str(prepared.database), read_only=True) as con:
        (graded,) = con.execute("SELECT COUNT(*) FROM nba_predictions.prediction_accuracy").fetchone()
        (stamped,) = con.execute(
            "SELECT COUNT(*) FROM nba_predictions.prediction_accuracy WHERE graded_by_run = 'bench'").fetchone()
    assert graded > 0 and stamped == graded

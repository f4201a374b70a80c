"""system_scorecard: every figure against an independent computation of hand-made cases (a push, a
void, a 0-pick day, a window reaching before the season start); re-grading a date scores the
later dates whose windows reach it again; the CLI's ranked table."""

from __future__ import annotations

import datetime as dt

import pytest

from grading_pipeline import cli
from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support import scorecard_cases
from grading_pipeline_tests.support.scorecard_cases import DAYS, expected
from grading_pipeline_tests.support.warehouse_rows import load

LENIENT = GradingPolicy(min_actuals_coverage=0.0)
FIGURES = ("window_start", "decided_picks", "wins", "losses", "win_rate", "win_rate_lower", "win_rate_upper",
           "beats_break_even", "units_won", "roi", "units_won_at_price", "roi_at_price", "mae", "brier_score")


def scorecard(query, warehouse) -> dict:
    rows = query(warehouse, "SELECT * FROM nba_predictions.system_scorecard WHERE game_date BETWEEN @s AND @e "
                            "AND system_id = 'catboost_v8'", {"s": DAYS[0], "e": DAYS[-1]})
    return {(r["game_date"], r["window_days"]): r for r in rows}


def duck_query(warehouse, sql, params):
    with warehouse.session() as session:
        return session.query_text(sql, params)


@pytest.fixture
def graded(warehouse):
    load(warehouse, *scorecard_cases.cases(), dates=list(DAYS))
    with warehouse.session() as session:
        assert publish_dates(session, DAYS[0], DAYS[-1], policy=LENIENT).committed
    return warehouse


def test_every_figure_agrees_with_an_independent_computation(graded):
    got = scorecard(duck_query, graded)
    assert set(got) == {(d, w) for d in DAYS for w in (1, 7, 30)}
    for (day, window), row in got.items():
        want = expected(day, window)
        for name in FIGURES:
            if name in want:
                value = row[name]
                assert (value == pytest.approx(want[name]) if isinstance(want[name], float) else value == want[name]), \
                    (day, window, name, value, want[name])
    # The 0-pick day: graded, no decided pick; its 1-day window says so, its longer ones carry on.
    assert (got[(DAYS[1], 1)]["decided_picks"], got[(DAYS[1], 1)]["win_rate"]) == (0, None)
    # Calibration: decile 7 (confidence 0.6) 1 win of 2 by 2025-11-05; decile 9 (0.8) 1 of 1.
    (last,) = [got[(DAYS[2], 30)]]
    assert (last["decile_7_picks"], last["decile_7_win_rate"], last["decile_9_picks"], last["decile_9_win_rate"]) == \
           (2, 0.5, 1, 1.0)


def test_regrading_a_date_scores_again_the_later_windows_that_reach_it(graded):
    before = scorecard(duck_query, graded)
    with graded._connection() as con:  # a stat correction: bravo scored 15, his UNDER now wins
        con.execute("UPDATE nba_analytics.player_game_summary SET points = 15 WHERE player_lookup = 'bravo'")
    with graded.session() as session:
        published = publish_dates(session, DAYS[0], DAYS[0], policy=LENIENT, reach_until=DAYS[-1])
    assert published.committed and published.ranges["nba_predictions.system_scorecard"] == (DAYS[0], DAYS[-1])
    after = scorecard(duck_query, graded)
    for day in DAYS:
        assert after[(day, 30)]["wins"] == before[(day, 30)]["wins"] + 1, day
    assert after[(DAYS[2], 1)]["wins"] == before[(DAYS[2], 1)]["wins"]  # a window that does not reach it


def test_the_cli_ranks_the_systems_and_says_which_beat_break_even(season_env, capsys):
    assert cli.main(["scorecard", "--date", "2025-11-09", "--window", "30"]) == 0
    out = capsys.readouterr().out
    lines = [l for l in out.splitlines() if l.strip()]
    assert lines[0].startswith("30-day scorecard ending 2025-11-09")
    body = [l for l in lines if l.split()[0].isdigit() and l.split()[1] != "of"]
    lowers = [float(l.split()[5]) for l in body]
    assert len(body) >= 5 and lowers == sorted(lowers, reverse=True)  # ranked by the lower bound
    assert "beat the -110 break-even (52.38%) with 95% confidence" in out


@pytest.fixture
def season_env(tmp_path, monkeypatch, grade, warehouse):
    from grading_pipeline_tests.support.warehouse_rows import load_season

    load_season(warehouse, dt.date(2025, 10, 21), 20, 200, 7)
    assert grade(dt.date(2025, 10, 21), dt.date(2025, 11, 9)).success
    monkeypatch.setenv("GRADING_DUCKDB_PATH", warehouse.database)
    return warehouse

"""`grading-pipeline status`: per recent date graded or not, when, by which run, whether its inputs
changed since, and freshness; exit 1 when something needs action."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from grading_pipeline import cli
from grading_pipeline.status import freshness_deadline


@pytest.fixture
def deployment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADING_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("GRADING_LOCK_PATH", str(tmp_path / "locks.sqlite"))
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # a persistent instance: the status reads its materializations
    assert cli.main(["sample-data", "--start", "2025-11-01", "--days", "4", "--per-day", "150"]) == 0
    return tmp_path


def lines_by_date(out: str) -> dict[str, str]:
    return {line[:10]: line for line in out.splitlines() if line[:4] == "2025"}


def test_status_names_what_needs_action_and_passes_once_done(deployment, capsys):
    assert cli.main(["grade", "--start", "2025-11-01", "--end", "2025-11-03"]) == 0
    with duckdb.connect(str(deployment / "w.duckdb")) as con:  # a stat correction two days later
        con.execute("UPDATE nba_analytics.player_game_summary SET points = points + 2 WHERE game_date = '2025-11-02' "
                    "AND player_lookup = (SELECT MIN(player_lookup) FROM nba_analytics.player_game_summary "
                    "WHERE game_date = '2025-11-02')")
    capsys.readouterr()
    assert cli.main(["status", "--end", "2025-11-05", "--days", "5"]) == 1
    out = capsys.readouterr().out
    rows = lines_by_date(out)
    assert rows["2025-11-01"].split()[1] == "ok" and rows["2025-11-03"].split()[1] == "ok"
    assert "INPUTS CHANGED" in rows["2025-11-02"] and "changed since: nba_analytics.player_game_summary" in rows["2025-11-02"]
    assert "NOT GRADED" in rows["2025-11-04"]
    assert "no games" in rows["2025-11-05"]  # a day without games never alarms
    assert "ACTION NEEDED on 2 date(s): 2025-11-02 (inputs changed), 2025-11-04 (not graded)" in out
    assert cli.main(["grade", "--start", "2025-11-02", "--end", "2025-11-04"]) == 0
    capsys.readouterr()
    assert cli.main(["status", "--end", "2025-11-05", "--days", "5"]) == 0
    assert "OK: 2025-11-01 .. 2025-11-05 needs nothing." in capsys.readouterr().out


def test_yesterday_is_only_late_after_the_deadline(monkeypatch):
    from grading_pipeline.status import _ungraded_state

    day = dt.date(2026, 1, 14)
    versions = {"nba_predictions.player_prop_predictions": "rows=900;hash=1.2",
                "nba_analytics.player_game_summary": "rows=0"}
    before, after = (dt.datetime(2026, 1, 15, h, tzinfo=dt.timezone.utc) for h in (11, 13))
    assert freshness_deadline(day) == dt.datetime(2026, 1, 15, 12, tzinfo=dt.timezone.utc)
    assert _ungraded_state(day, versions, before) == "waiting for box scores"
    assert _ungraded_state(day, versions, after) == "LATE"
    monkeypatch.setenv("GRADING_FRESHNESS_DEADLINE", "14:30")
    assert _ungraded_state(day, versions, after) == "waiting for box scores"
    monkeypatch.setenv("GRADING_FRESHNESS_DEADLINE", "noon")
    with pytest.raises(ValueError, match="GRADING_FRESHNESS_DEADLINE"):
        freshness_deadline(day)

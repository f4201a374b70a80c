"""Building input rows by hand for tests: a dict per row, every other column NULL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from grading_pipeline.sql_catalog import ddl_columns as catalog_ddl_columns

GAME_DATE = dt.date(2025, 11, 3)
GAME_ID = "20251103_BKN_MIL"
PREDICTIONS = "nba_predictions.player_prop_predictions"
ACTUALS = "nba_analytics.player_game_summary"
_DDL = {PREDICTIONS: "ddl/010_player_prop_predictions.sql", ACTUALS: "ddl/020_player_game_summary.sql"}


def ddl_columns(table: str) -> list[str]:
    return [c.name for c in catalog_ddl_columns(_DDL[table])[1]]


def prediction(player: str, system: str = "catboost_v8", **values: Any) -> dict[str, Any]:
    row = {
        "player_lookup": player,
        "game_id": GAME_ID,
        "game_date": GAME_DATE,
        "system_id": system,
        "predicted_points": 20.5,
        "confidence_score": 0.6,
        "recommendation": "OVER",
        "current_points_line": 18.5,
        "is_active": True,
        "created_at": pd.Timestamp(f"{GAME_DATE} 15:00", tz="UTC"),
    }
    row.update(values)
    return row


def actual(player: str, points: int | None, minutes: float | None = 30.0, **values: Any) -> dict[str, Any]:
    row = {
        "player_lookup": player,
        "game_id": GAME_ID,
        "game_date": GAME_DATE,
        "team_abbr": "MIL",
        "opponent_team_abbr": "BKN",
        "points": points,
        "minutes_played": minutes,
        "is_dnp": False,
    }
    row.update(values)
    return row


def frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ddl_columns(table)
    unknown = {k for r in rows for k in r} - set(columns)
    assert not unknown, f"not columns of {table}: {unknown}"
    data = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
    return data.astype(object).where(data.notna(), None)


def load(warehouse, predictions: list[dict[str, Any]], actuals: list[dict[str, Any]], dates=None) -> None:
    warehouse.ensure_tables(include_inputs=True)
    dates = dates or sorted({r["game_date"] for r in predictions + actuals} or {GAME_DATE})
    warehouse.load_rows(PREDICTIONS, frame(PREDICTIONS, predictions), dates)
    warehouse.load_rows(ACTUALS, frame(ACTUALS, actuals), dates)


def rule_cases() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Hand-made rows covering every grading rule, graded by hand in test_grading_rules.py (and on
    BigQuery in bigquery/test_grading_rules_on_bigquery.py)."""
    predictions = [
        prediction("alpha", "catboost_v8", predicted_points=27.0, current_points_line=22.5, recommendation="OVER", confidence_score=0.72),
        prediction("alpha", "similarity", predicted_points=20.0, current_points_line=22.5, recommendation="UNDER", confidence_score=65),
        prediction("alpha", "ensemble_v1", predicted_points=26.0, current_points_line=25.0, recommendation="OVER", confidence_score=1.0),
        prediction("alpha", "zone_matchup", predicted_points=23.0, current_points_line=22.5, recommendation="PASS"),
        prediction("alpha", "moving_average_baseline", predicted_points=21.0, current_points_line=None, recommendation="NO_LINE"),
        prediction("alpha", "xgboost_v1", current_points_line=20.0),  # placeholder line: excluded
        prediction("alpha", "catboost_v8", current_points_line=24.5, is_active=False, invalidation_reason="player_traded"),
        prediction("bravo", injury_status_at_prediction="OUT"),
        prediction("charlie", injury_status_at_prediction="QUESTIONABLE"),
        prediction("delta"),
        prediction("echo", predicted_points=14.0, current_points_line=15.5, recommendation="UNDER",
                   created_at=pd.Timestamp(f"{GAME_DATE} 15:00", tz="UTC")),
        prediction("echo", predicted_points=16.0, current_points_line=15.5, recommendation="OVER",
                   created_at=pd.Timestamp(f"{GAME_DATE} 17:00", tz="UTC")),
        # Made after the game (next morning), knowing the result: must never be the graded one.
        prediction("echo", predicted_points=30.0, current_points_line=15.5, recommendation="OVER",
                   created_at=pd.Timestamp(GAME_DATE + dt.timedelta(days=1), tz="UTC") + pd.Timedelta(hours=5)),
        prediction("foxtrot"),
    ]
    actuals = [
        actual("alpha", 25, 34.0),
        actual("bravo", 0, 0.0, is_dnp=True),
        actual("charlie", 0, 0.0),
        actual("echo", 31, 30.0),
        # foxtrot's row belongs to another game: actuals join on (player_lookup, game_id).
        actual("foxtrot", 40, 36.0, game_id="20251103_LAL_BOS"),
    ]
    return predictions, actuals


def load_season(warehouse, start: dt.date, days: int, per_day: int, seed: int):
    """A deterministic sample season in both input tables of `warehouse` (created if absent)."""
    from grading_pipeline.sample_data import generate_season

    season = generate_season(start, days, predictions_per_day=per_day, seed=seed)
    warehouse.ensure_tables(include_inputs=True)
    warehouse.load_rows(PREDICTIONS, season.predictions)
    warehouse.load_rows(ACTUALS, season.actuals)
    return season

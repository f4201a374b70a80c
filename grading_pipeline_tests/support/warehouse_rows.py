"""Building input rows by hand for tests: a dict per row, every other column NULL."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlglot
from sqlglot import exp

from grading_pipeline.sql_catalog import read_sql

GAME_DATE = dt.date(2025, 11, 3)
GAME_ID = "20251103_BKN_MIL"
PREDICTIONS = "nba_predictions.player_prop_predictions"
ACTUALS = "nba_analytics.player_game_summary"
_DDL = {PREDICTIONS: "ddl/010_player_prop_predictions.sql", ACTUALS: "ddl/020_player_game_summary.sql"}


def ddl_columns(table: str) -> list[str]:
    create = sqlglot.parse_one(read_sql(_DDL[table]), read="bigquery")
    return [c.name for c in create.find_all(exp.ColumnDef)]


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

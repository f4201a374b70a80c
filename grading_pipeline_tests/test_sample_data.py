"""The sample-data generator: shape, guaranteed cases on every game day, scale, DuckDB load."""

from __future__ import annotations

import datetime as dt
import re
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from grading_pipeline.sample_data import (
    PLACEHOLDER_LINE,
    SYSTEMS,
    TEAMS,
    SampleSeason,
    generate_season,
)

DDL_DIR = Path(__file__).resolve().parents[1] / "sql" / "ddl"
PREDICTIONS_DDL = DDL_DIR / "010_player_prop_predictions.sql"
ACTUALS_DDL = DDL_DIR / "020_player_game_summary.sql"

START = dt.date(2025, 10, 21)
SEASON_DAYS = 30  # off days 9, 18, 27 (1-based) with the default off_day_every=9
TRIPLE = ["player_lookup", "game_id", "system_id"]
KEY = [*TRIPLE, "current_points_line"]
BOX_KEY = ["player_lookup", "game_id", "game_date"]


def ddl_columns(path: Path) -> list[str]:
    create = sqlglot.parse_one(path.read_text(), read="bigquery")
    return [c.name for c in create.find_all(exp.ColumnDef)]


def duckdb_with_tables() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA nba_predictions; CREATE SCHEMA nba_analytics;")
    for path in (PREDICTIONS_DDL, ACTUALS_DDL):
        for statement in sqlglot.transpile(
            path.read_text(), read="bigquery", write="duckdb", unsupported_level=sqlglot.ErrorLevel.IGNORE
        ):
            con.execute(statement)
    return con


@pytest.fixture(scope="module")
def season() -> SampleSeason:
    return generate_season(START, SEASON_DAYS)


@pytest.fixture(scope="module")
def joined(season: SampleSeason) -> pd.DataFrame:
    """Predictions with their box-score row (NaN where there is none) and derived flags."""
    m = season.predictions.merge(season.actuals, on=BOX_KEY, how="left", validate="many_to_one", indicator=True)
    m["has_actual"] = m["_merge"] == "both"
    is_dnp = m["is_dnp"].astype("boolean").fillna(False).astype(bool)
    no_minutes = m["minutes_played"].isna() | (m["minutes_played"] == 0)
    m["played"] = m["has_actual"] & ~is_dnp & ~((m["points"] == 0) & no_minutes)
    m["post_game"] = m["created_at"].dt.date > m["game_date"]
    return m


def by_day(frame: pd.DataFrame):
    for date, day in frame.groupby("game_date", sort=True):
        yield date, day


# ---------------------------------------------------------------------------
# shape


def test_columns_equal_the_ddl_columns_in_order(season: SampleSeason) -> None:
    assert list(season.predictions.columns) == ddl_columns(PREDICTIONS_DDL)
    assert list(season.actuals.columns) == ddl_columns(ACTUALS_DDL)


def test_dtypes(season: SampleSeason) -> None:
    p, a = season.predictions, season.actuals
    assert all(isinstance(d, dt.date) and not isinstance(d, dt.datetime) for d in p["game_date"].head(50))
    assert str(p["created_at"].dtype) == "datetime64[ns, UTC]"
    assert str(p["similar_games_count"].dtype) == "Int64"
    for col in ("predicted_points", "confidence_score", "current_points_line", "pace_adjustment"):
        assert p[col].dtype == np.float64, col
    for col in ("has_prop_line", "is_active"):
        assert p[col].dtype == bool, col
    assert a["points"].dtype == np.int64 and (a["points"] >= 0).all()
    assert a["minutes_played"].dtype == np.float64 and a["is_dnp"].dtype == bool
    assert np.allclose(np.round(p["predicted_points"] * 10), p["predicted_points"] * 10)
    assert (p["predicted_points"] >= 0).all()


def test_same_arguments_give_identical_frames(season: SampleSeason) -> None:
    again = generate_season(START, SEASON_DAYS)
    pd.testing.assert_frame_equal(season.predictions, again.predictions)
    pd.testing.assert_frame_equal(season.actuals, again.actuals)
    assert season.game_dates == again.game_dates
    other = generate_season(START, SEASON_DAYS, seed=8)
    assert not season.predictions["predicted_points"].equals(other.predictions["predicted_points"])


def test_a_date_does_not_depend_on_where_the_season_starts(season: SampleSeason) -> None:
    date = START + dt.timedelta(days=4)
    alone = generate_season(date, 1)
    assert alone.game_dates == [date]
    part = season.predictions[season.predictions["game_date"] == date].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone.predictions, part)


def test_off_days_have_no_games(season: SampleSeason) -> None:
    off = {START + dt.timedelta(days=i) for i in (8, 17, 26)}
    all_days = {START + dt.timedelta(days=i) for i in range(SEASON_DAYS)}
    assert set(season.game_dates) == all_days - off
    assert season.game_dates == sorted(season.game_dates)
    assert set(season.predictions["game_date"]) == set(season.game_dates)
    assert set(season.actuals["game_date"]) == set(season.game_dates)

    every_day = generate_season(START, 3, predictions_per_day=50, off_day_every=0)
    assert len(every_day.game_dates) == 3
    every_other = generate_season(START, 4, predictions_per_day=50, off_day_every=2)
    assert every_other.game_dates == [START, START + dt.timedelta(days=2)]

    nothing = generate_season(START, 0)
    assert nothing.game_dates == [] and nothing.predictions.empty and nothing.actuals.empty
    assert list(nothing.predictions.columns) == ddl_columns(PREDICTIONS_DDL)
    assert list(nothing.actuals.columns) == ddl_columns(ACTUALS_DDL)


# ---------------------------------------------------------------------------
# what every game day contains


def test_games_teams_and_systems_per_day(season: SampleSeason) -> None:
    system_ids = {s.system_id for s in SYSTEMS}
    for date, day in by_day(season.actuals):
        games = day["game_id"].unique()
        assert 4 <= len(games) <= 12
        teams = [t for g in games for t in g.split("_")[1:]]
        assert len(teams) == len(set(teams)) and set(teams) <= set(TEAMS)
        assert all(re.fullmatch(date.strftime("%Y%m%d") + r"_[A-Z]{3}_[A-Z]{3}", g) for g in games)
        assert not day.duplicated(["player_lookup", "game_id"]).any()
        assert (day["team_abbr"] != day["opponent_team_abbr"]).all()
    for date, day in by_day(season.predictions):
        assert 5 <= day["system_id"].nunique() <= 7 and set(day["system_id"]) <= system_ids
        assert set(day["game_id"]) <= set(season.actuals.loc[season.actuals["game_date"] == date, "game_id"])
        assert abs(len(day) - 600) <= 60
        assert day["player_lookup"].str.fullmatch(r"[a-z]+").all()
    predicted = season.predictions[BOX_KEY].drop_duplicates()
    box_only = season.actuals.merge(predicted, on=BOX_KEY, how="left", indicator=True)
    assert (box_only["_merge"] == "left_only").any()  # bench players without predictions


def test_lines_recommendations_and_pushes_every_day(joined: pd.DataFrame) -> None:
    for date, day in by_day(joined):
        line = day["current_points_line"]
        real = line.notna()
        assert ((line[real] % 1) == 0.5).mean() > 0.6, date  # mostly half-points
        assert ((line[real] % 1) == 0).any(), date
        assert (line[real] >= 0.5).all()
        pushes = day["played"] & (day["points"] == line) & day["recommendation"].isin(["OVER", "UNDER"])
        assert pushes.sum() >= 3, date
        assert set(day["recommendation"]) == {"OVER", "UNDER", "PASS", "HOLD", "NO_LINE"}, date
        assert ((day["recommendation"] == "NO_LINE") == ~real).all()
        assert (day["has_prop_line"] == real).all()
        assert (day.loc[~real, "line_source"] == "NO_PROP_LINE").all()
        assert set(day.loc[real, "line_source"]) == {"ACTUAL_PROP", "ODDS_API", "BETTINGPROS"}
        null_keys = day.loc[~real, TRIPLE].drop_duplicates()
        assert len(null_keys) >= 4 and null_keys["system_id"].nunique() >= 2, date
        assert (line == PLACEHOLDER_LINE).any(), date


def test_placeholder_and_null_lines_have_a_single_line_per_prediction(season: SampleSeason) -> None:
    p = season.predictions
    flagged = p["current_points_line"].isna() | (p["current_points_line"] == PLACEHOLDER_LINE)
    suspicious = p[flagged][TRIPLE].drop_duplicates()
    lines = p.merge(suspicious, on=TRIPLE).groupby(TRIPLE, dropna=False)["current_points_line"]
    assert (lines.nunique(dropna=False) == 1).all()


def test_confidence_scales(joined: pd.DataFrame) -> None:
    for date, day in by_day(joined):
        percent = day["confidence_score"] > 1
        assert percent.any(), date
        assert set(day.loc[percent, "system_id"]) == {"similarity"}
        assert (day["confidence_score"] <= 100).all() and (day["confidence_score"] >= 0).all()
        assert (day.loc[percent, "model_version"] == "similarity_v1").all()
    unit = joined["confidence_score"] <= 1
    assert unit.mean() > 0.8 and (joined.loc[unit, "confidence_score"] >= 0.7).mean() > 0.05


def test_dnp_shapes_and_injury_statuses_every_day(joined: pd.DataFrame, season: SampleSeason) -> None:
    statuses = {"OUT", "DOUBTFUL", "QUESTIONABLE", "PROBABLE", "AVAILABLE", None}
    for date, day in by_day(joined):
        flagged = day[day["is_dnp"] == True]  # noqa: E712 (object column after the merge)
        assert (flagged["points"] == 0).all()
        assert (flagged["minutes_played"] == 0).any() and flagged["minutes_played"].isna().any(), date
        assert ((day["is_dnp"] == False) & (day["points"] == 0) & (day["minutes_played"] == 0)).any(), date  # noqa: E712
        assert (~day["has_actual"]).any(), date
        got = {None if pd.isna(s) else s for s in day["injury_status_at_prediction"]}
        assert got == statuses, date
    box = season.actuals
    assert (box.loc[box["is_dnp"], "points"] == 0).all()
    assert ((box["points"] == 0) & (box["minutes_played"] > 0) & ~box["is_dnp"]).any()  # a real 0
    per_player = joined.drop_duplicates(BOX_KEY)
    out = per_player[per_player["injury_status_at_prediction"] == "OUT"]
    available = per_player[per_player["injury_status_at_prediction"] == "AVAILABLE"]
    assert (~out["played"]).mean() > 0.75 and (~available["played"]).mean() < 0.1


def test_reruns_postgame_repredictions_and_multiple_lines_every_day(joined: pd.DataFrame) -> None:
    for date, day in by_day(joined):
        groups = day.groupby(KEY, dropna=False)
        repeated = groups.size() > 1
        assert repeated.sum() >= 3, date
        varied = groups.agg(t=("created_at", "nunique"), p=("predicted_points", "nunique"), n=("created_at", "size"))
        varied = varied[varied["n"] > 1]
        assert ((varied["t"] == varied["n"]) & (varied["p"] > 1)).all(), date
        # a post-game re-prediction: same key has a pre-game row
        post = day[day["post_game"]]
        assert len(post) >= 1, date
        pre_keys = day.loc[~day["post_game"], KEY].drop_duplicates()
        assert len(post.merge(pre_keys, on=KEY)) == len(post)
        lines_per_triple = day.groupby(TRIPLE)["current_points_line"].nunique()
        assert (lines_per_triple > 1).sum() >= 3, date


def test_created_at_windows(joined: pd.DataFrame) -> None:
    created = joined["created_at"]
    assert str(created.dt.tz) == "UTC"
    pre, post = joined[~joined["post_game"]], joined[joined["post_game"]]
    assert (pre["created_at"].dt.date == pre["game_date"]).all()
    seconds = created.dt.hour * 3600 + created.dt.minute * 60 + created.dt.second
    assert seconds[~joined["post_game"]].between(12 * 3600, 22 * 3600).all()
    assert (post["created_at"].dt.date == post["game_date"] + dt.timedelta(days=1)).all()
    assert post["created_at"].dt.hour.between(6, 14).all()


def test_invalidations_every_day(joined: pd.DataFrame) -> None:
    for date, day in by_day(joined):
        assert (~day["is_active"]).any(), date
        assert day.loc[~day["is_active"], "invalidation_reason"].notna().all()
        assert day.loc[day["is_active"], "invalidation_reason"].isna().all()


def test_system_error_profiles(joined: pd.DataFrame) -> None:
    graded = joined[joined["played"]]
    mae = (graded["predicted_points"] - graded["points"]).abs().groupby(graded["system_id"]).mean()
    for system in SYSTEMS:
        assert mae[system.system_id] == pytest.approx(system.mae, abs=0.4), system.system_id
    assert mae["catboost_v8"] < mae["zone_matchup"] - 1.5
    tiers = joined.drop_duplicates(BOX_KEY)["points"]
    assert (tiers >= 25).any() and tiers.between(15, 24).any() and tiers.between(5, 14).any()


# ---------------------------------------------------------------------------
# scale and speed


def test_one_day_at_100k_predictions() -> None:
    started = time.perf_counter()
    big = generate_season(START, 1, predictions_per_day=100_000)
    elapsed = time.perf_counter() - started
    p = big.predictions
    assert abs(len(p) - 100_000) <= 10_000
    assert elapsed < 5, elapsed
    assert p["game_id"].nunique() <= 15
    lines = p["current_points_line"]
    assert (lines.dropna() >= 0.5).all()
    # every key is distinct per line: alternative lines never land on the placeholder
    placeholder_triples = p.loc[lines == PLACEHOLDER_LINE, TRIPLE].drop_duplicates()
    assert (p.merge(placeholder_triples, on=TRIPLE)["current_points_line"] == PLACEHOLDER_LINE).all()
    assert p.groupby(KEY, dropna=False).size().max() > 1


def test_season_of_180_days_at_1000_a_day_is_fast() -> None:
    started = time.perf_counter()
    s = generate_season(START, 180, predictions_per_day=1000)
    elapsed = time.perf_counter() - started
    assert len(s.game_dates) == 160
    assert abs(len(s.predictions) - 160_000) <= 16_000
    assert elapsed < 2.0, elapsed


# ---------------------------------------------------------------------------
# DuckDB


def test_duckdb_load_type_checks_and_round_trips(season: SampleSeason) -> None:
    con = duckdb_with_tables()
    predictions, actuals = season.predictions, season.actuals  # noqa: F841 (read by DuckDB)
    con.execute("INSERT INTO nba_predictions.player_prop_predictions SELECT * FROM predictions")
    con.execute("INSERT INTO nba_analytics.player_game_summary SELECT * FROM actuals")

    types = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'player_prop_predictions'"
        ).fetchall()
    )
    assert types["game_date"] == "DATE" and types["created_at"] == "TIMESTAMP WITH TIME ZONE"

    p = con.execute(
        "SELECT * FROM nba_predictions.player_prop_predictions ORDER BY rowid"
    ).fetchdf()
    assert len(p) == len(predictions)
    assert list(p["game_date"].map(lambda v: v.date() if isinstance(v, pd.Timestamp) else v)) == list(
        predictions["game_date"]
    )
    assert np.allclose(p["predicted_points"].astype(float), predictions["predicted_points"])
    assert p["current_points_line"].isna().sum() == predictions["current_points_line"].isna().sum()
    assert p["pace_adjustment"].isna().sum() == predictions["pace_adjustment"].isna().sum()
    assert p["similar_games_count"].isna().sum() == predictions["similar_games_count"].isna().sum()
    assert (p["created_at"].dt.tz_convert("UTC") == predictions["created_at"]).all()
    null_line_keys = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT player_lookup, game_id, system_id, current_points_line "
        "FROM nba_predictions.player_prop_predictions WHERE current_points_line IS NULL)"
    ).fetchone()[0]
    assert null_line_keys == len(predictions.loc[predictions["current_points_line"].isna(), TRIPLE].drop_duplicates())
    placeholder = con.execute(
        "SELECT count(*) FROM nba_predictions.player_prop_predictions WHERE current_points_line = 20.0"
    ).fetchone()[0]
    assert placeholder == (predictions["current_points_line"] == PLACEHOLDER_LINE).sum()

    a = con.execute(
        "SELECT count(*), count(minutes_played), sum(points), count(*) FILTER (WHERE is_dnp) "
        "FROM nba_analytics.player_game_summary"
    ).fetchone()
    assert a == (
        len(actuals),
        actuals["minutes_played"].notna().sum(),
        actuals["points"].sum(),
        actuals["is_dnp"].sum(),
    )

"""Deterministic, vectorised sample data for the two input tables.

``generate_season`` produces frames shaped exactly like
``nba_predictions.player_prop_predictions`` (sql/ddl/010) and
``nba_analytics.player_game_summary`` (sql/ddl/020), with every awkward case the
grader must handle present on every game day (at the default size): pushes,
NULL lines, the 20.0 placeholder line, 0-100 confidences, DNPs of every shape,
re-runs of the same business key (one of them created after the game), several
lines per (player, game, system), invalidated rows.

Shape of one game day
---------------------
* 4-12 games (more, up to 15, when the requested volume needs it). Each team
  plays at most once a day; ``game_id`` is ``yyyymmdd_AWAY_HOME``.
* Fixed rosters: 15 players per team, independent of ``seed``. Slot 0 is a
  star, slot 1 a star or starter, 2-4 starters, 5-9 role players, 10-14 bench.
  Slots 0-10 can be predicted; the others only appear in the box score.
* 5-7 systems are active (the five "core" systems always, ``xgboost_v1`` and
  ``catboost_v9`` on some days).
* Volume: about 1.2 rows per predicted (player, game, system) at the default
  size. Larger volumes first add games (up to 15, every team playing), then
  more lines (at most 9: base -4 .. +4) and re-runs per (player, game, system)
  (~45 rows each at 100k/day: 9 lines x ~5 runs).
* A prediction row is: a (player, game, system) *triple*, one of its *lines*
  (a business key = triple + ``current_points_line``) and one *run* of that key.
  Extra rows beyond one per triple are spread over alternative lines
  (base line +1, -1, +2, -2, ... so half-point lines stay half-point) and
  re-runs of a key (same line, later ``created_at``, drifted
  ``predicted_points``).
* Every pre-game ``created_at`` falls on the game date between 12:00 and 22:00
  UTC. On some keys with re-runs (at least one a day when any key has re-runs)
  the last run is a post-game re-prediction created the next day between
  06:00 and 14:00 UTC, whose ``predicted_points`` is the actual +- noise (it
  "knows" the result), so a grader that keeps the latest ``created_at`` looks
  suspiciously accurate.
* The content of a date depends only on (seed, date, predictions_per_day), not
  on ``start_date``/``days``: generating one date alone reproduces that date of
  a whole season (only which days are off depends on ``start_date``).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "ACTUAL_COLUMNS",
    "PLACEHOLDER_LINE",
    "PREDICTION_COLUMNS",
    "SYSTEMS",
    "SampleSeason",
    "TEAMS",
    "generate_season",
    "is_off_day",
]

# The column order of sql/ddl/010 and sql/ddl/020 (a test checks them against the DDL).
PREDICTION_COLUMNS: tuple[str, ...] = (
    "player_lookup",
    "game_id",
    "game_date",
    "system_id",
    "predicted_points",
    "confidence_score",
    "recommendation",
    "current_points_line",
    "pace_adjustment",
    "similar_games_count",
    "model_version",
    "has_prop_line",
    "line_source",
    "is_active",
    "invalidation_reason",
    "injury_status_at_prediction",
    "created_at",
    "american_odds",
)
ACTUAL_COLUMNS: tuple[str, ...] = (
    "player_lookup",
    "game_id",
    "game_date",
    "team_abbr",
    "opponent_team_abbr",
    "points",
    "minutes_played",
    "is_dnp",
)

PLACEHOLDER_LINE = 20.0

TEAMS: tuple[str, ...] = (
    "ATL", "BOS", "BKN", "CHA", "CHI", "CLE", "DAL", "DEN", "DET", "GSW",
    "HOU", "IND", "LAC", "LAL", "MEM", "MIA", "MIL", "MIN", "NOP", "NYK",
    "OKC", "ORL", "PHI", "PHX", "POR", "SAC", "SAS", "TOR", "UTA", "WAS",
)
PLAYERS_PER_TEAM = 15
_PREDICTABLE_SLOTS = 11  # slots 0-10 get predictions (10 non-bench + 1 bench)


@dataclass(frozen=True)
class _System:
    system_id: str
    mae: float  # target mean absolute error against the actual
    bias: float  # mean signed error (predicted - actual)
    model_version: str
    core: bool  # active every game day


SYSTEMS: tuple[_System, ...] = (
    _System("catboost_v8", 4.0, 0.1, "catboost_v8.2", True),
    _System("moving_average_baseline", 5.0, 0.4, "moving_average_v1", True),
    _System("ensemble_v1", 5.0, -0.2, "ensemble_v1.1", True),
    _System("similarity", 5.4, 0.5, "similarity_v2", True),
    _System("zone_matchup", 6.6, -0.8, "zone_matchup_v3", True),
    _System("xgboost_v1", 4.6, 0.2, "xgboost_v1.0", False),
    _System("catboost_v9", 4.2, 0.0, "catboost_v9.0", False),
)
_SIMILARITY = 3
_MOVING_AVERAGE = 1
_ENSEMBLE = 2
# similarity rows from this (older) model version write confidence on a 0-100 scale
SIMILARITY_PERCENT_VERSION = "similarity_v1"
_OPTIONAL_SYSTEM_P = 0.55

RECOMMENDATIONS = ("OVER", "UNDER", "PASS", "HOLD", "NO_LINE")
LINE_SOURCES = ("ACTUAL_PROP", "ODDS_API", "BETTINGPROS")
NO_LINE_SOURCE = "NO_PROP_LINE"
INJURY_STATUSES = ("OUT", "DOUBTFUL", "QUESTIONABLE", "PROBABLE", "AVAILABLE", None)
_OUT, _DOUBTFUL, _QUESTIONABLE, _PROBABLE, _AVAILABLE, _NO_STATUS = range(6)
_STATUS_P = np.array([0.02, 0.02, 0.06, 0.08, 0.70, 0.12])
_DNP_P_BY_STATUS = np.array([0.90, 0.60, 0.25, 0.05, 0.01, 0.03])
# shape of a DNP: flagged with 0 minutes, flagged with NULL minutes,
# 0 points / 0 minutes without the flag, no box-score row at all
_DNP_FLAG_MIN0, _DNP_FLAG_MINNULL, _DNP_ZERO_NOFLAG, _DNP_MISSING = range(4)
_DNP_KIND_P = np.array([0.40, 0.25, 0.15, 0.20])
INVALIDATION_REASONS = ("player_ruled_out", "line_moved", "superseded_by_rerun", "data_quality_issue")

_ROWS_PER_TRIPLE = 1.2  # target rows / (player, game, system) at normal volumes
_SHRINK = 0.55  # predictions regress the game's deviation from the player's mean by this much
_INVALID_P = 0.01
_HOLD_P = 0.02
_PASS_EDGE = 1.0
_POSTGAME_SHARE = 0.10
_MAX_ALT_LINES = 8  # base line -4 .. +4; beyond that, extra volume becomes re-runs

_ROSTER_SEED = 20251021  # rosters do not depend on the caller's seed

_FIRST = (
    "Aaron", "Andre", "Anthony", "Bam", "Bennett", "Brandon", "Cade", "Caleb", "Cameron",
    "Chris", "Darius", "De'Aaron", "Derrick", "Devin", "Donovan", "Evan", "Franz", "Gary",
    "Grant", "Isaiah", "Jalen", "Jamal", "Jaren", "Jayson", "Jordan", "Josh", "Julius",
    "Karl", "Keegan", "Kevin", "Kyle", "Lamar", "Luka", "Malik", "Marcus", "Mikal", "Miles",
    "Nikola", "Norman", "Paolo", "Pascal", "Quentin", "RJ", "Scottie", "Shai", "Terry",
    "Trae", "Tyrese", "Victor", "Zion",
)
_LAST = (
    "Adams", "Allen", "Anderson", "Bailey", "Barnes", "Bell", "Bridges", "Brooks", "Brown",
    "Carter", "Clark", "Collins", "Davis", "Edwards", "Evans", "Fox", "Garland", "Gordon",
    "Grant", "Green", "Hall", "Harris", "Hayes", "Hill", "Holiday", "Howard", "Hughes",
    "Jackson", "Johnson", "Jones", "King", "Lee", "Lewis", "Martin", "Miller", "Mitchell",
    "Moore", "Murray", "Nelson", "O'Neal", "Parker", "Porter", "Powell", "Reed", "Robinson",
    "Ross", "Russell", "Scott", "Smith", "Smith-Jones", "Taylor", "Thomas", "Thompson",
    "Turner", "Walker", "Ward", "Washington", "White", "Williams", "Young",
)


@dataclass(frozen=True)
class SampleSeason:
    predictions: pd.DataFrame  # columns exactly PREDICTION_COLUMNS (010 DDL order)
    actuals: pd.DataFrame  # columns exactly ACTUAL_COLUMNS (020 DDL order)
    game_dates: list[dt.date]  # dates that have games, ascending


# ---------------------------------------------------------------------------
# fixed rosters


@dataclass(frozen=True)
class _Roster:
    lookup: np.ndarray  # object[str], index = team * 15 + slot
    mean_points: np.ndarray
    sd_points: np.ndarray
    mean_minutes: np.ndarray


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


@functools.lru_cache(maxsize=1)
def _roster() -> _Roster:
    rng = np.random.default_rng(_ROSTER_SEED)
    n = len(TEAMS) * PLAYERS_PER_TEAM
    combos = rng.choice(len(_FIRST) * len(_LAST), size=n, replace=False)
    lookup = np.array(
        [_normalise(_FIRST[c // len(_LAST)] + _LAST[c % len(_LAST)]) for c in combos], dtype=object
    )
    assert len(set(lookup)) == n
    team = np.repeat(np.arange(len(TEAMS)), PLAYERS_PER_TEAM)
    slot = np.tile(np.arange(PLAYERS_PER_TEAM), len(TEAMS))
    # tiers: star >= 25, starter 15-25, role 5-15, bench < 5
    lo = np.select([slot == 0, (slot == 1) & (team % 3 == 0), slot <= 4, slot <= 9], [25.0, 25.0, 15.0, 5.0], 1.0)
    hi = np.select([slot == 0, (slot == 1) & (team % 3 == 0), slot <= 4, slot <= 9], [31.0, 29.0, 24.5, 14.5], 4.8)
    mean_points = np.round(lo + (hi - lo) * rng.random(n), 1)
    mean_minutes = np.select([mean_points >= 25, mean_points >= 15, mean_points >= 5], [35.0, 30.0, 21.0], 9.0)
    mean_minutes = mean_minutes + rng.uniform(-2.0, 2.0, n)
    return _Roster(lookup, mean_points, 0.22 * mean_points + 1.5, mean_minutes)


def _sigma_for_mae(mae: float, bias: float) -> float:
    """sigma such that E|N(bias, sigma)| == mae (bisection)."""

    def expected_abs(s: float) -> float:
        z = bias / s
        return s * math.sqrt(2 / math.pi) * math.exp(-z * z / 2) + bias * math.erf(z / math.sqrt(2))

    lo, hi = 1e-3, 4 * mae
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if expected_abs(mid) < mae else (lo, mid)
    return (lo + hi) / 2


# Clipping predictions and actuals at 0 lowers the realised MAE; these factors
# (fitted once on a 360-day default-size season) bring it back to the target.
_MAE_CALIBRATION = np.array([1.042, 1.05, 1.059, 1.063, 1.123, 1.051, 1.037])
_SYSTEM_SIGMA = np.array([_sigma_for_mae(s.mae, s.bias) for s in SYSTEMS]) * _MAE_CALIBRATION
_SYSTEM_BIAS = np.array([s.bias for s in SYSTEMS])
_SYSTEM_IDS = np.array([s.system_id for s in SYSTEMS], dtype=object)
_SYSTEM_VERSIONS = np.array([s.model_version for s in SYSTEMS], dtype=object)
_REC = np.array(RECOMMENDATIONS, dtype=object)
_SOURCES = np.array(LINE_SOURCES + (NO_LINE_SOURCE,), dtype=object)
_STATUS = np.array(INJURY_STATUSES, dtype=object)
_REASONS = np.array((None,) + INVALIDATION_REASONS, dtype=object)
_TEAM_ARR = np.array(TEAMS, dtype=object)


# ---------------------------------------------------------------------------
# one day


def _within_groups(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each group of size c, concatenated."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total) - np.repeat(starts, counts)


def _take_roles(candidates: np.ndarray, taken: np.ndarray, k: int) -> np.ndarray:
    chosen = candidates[~taken[candidates]][:k]
    taken[chosen] = True
    return chosen


def _generate_day(rng: np.random.Generator, date: dt.date, rows_wanted: int) -> tuple[dict, dict]:
    roster = _roster()
    n_sys_all = len(SYSTEMS)

    # systems, games, players -------------------------------------------------
    optional = np.array([not s.core for s in SYSTEMS]) & (rng.random(n_sys_all) < _OPTIONAL_SYSTEM_P)
    active = np.flatnonzero(np.array([s.core for s in SYSTEMS]) | optional)
    n_sys = len(active)

    # big volumes: first more games (up to 15), then more lines and re-runs per prediction
    n_games = int(rng.integers(4, 13))
    need = math.ceil(rows_wanted / (_ROWS_PER_TRIPLE * 2 * _PREDICTABLE_SLOTS * n_sys))
    n_games = min(len(TEAMS) // 2, max(n_games, need))

    teams = rng.permutation(len(TEAMS))[: 2 * n_games]
    away, home = teams[:n_games], teams[n_games:]
    ymd = date.strftime("%Y%m%d")
    game_ids = np.array([f"{ymd}_{TEAMS[a]}_{TEAMS[h]}" for a, h in zip(away, home)], dtype=object)
    team_game = np.concatenate([np.arange(n_games), np.arange(n_games)])
    team_opp = np.concatenate([home, away])

    pid = (teams[:, None] * PLAYERS_PER_TEAM + np.arange(PLAYERS_PER_TEAM)).ravel()
    n_pl = len(pid)
    p_game = np.repeat(team_game, PLAYERS_PER_TEAM)
    p_team = np.repeat(teams, PLAYERS_PER_TEAM)
    p_opp = np.repeat(team_opp, PLAYERS_PER_TEAM)
    p_slot = np.tile(np.arange(PLAYERS_PER_TEAM), 2 * n_games)
    mu = roster.mean_points[pid]
    sd = roster.sd_points[pid]

    # per (player, game): injury, DNP, actual, line ---------------------------
    status = rng.choice(len(INJURY_STATUSES), size=n_pl, p=_STATUS_P)
    dnp = rng.random(n_pl) < _DNP_P_BY_STATUS[status]
    dnp_kind = rng.choice(4, size=n_pl, p=_DNP_KIND_P)
    points = np.maximum(0.0, np.rint(mu + sd * rng.standard_normal(n_pl)))
    minutes = np.round(np.clip(roster.mean_minutes[pid] + 3.5 * rng.standard_normal(n_pl), 1.0, 46.0), 1)
    line_center = mu + 1.5 * rng.standard_normal(n_pl)
    line_kind = rng.choice(4, size=n_pl, p=[0.82, 0.12, 0.04, 0.02])  # half, whole, NULL, placeholder
    half = np.maximum(np.floor(line_center), 0.0) + 0.5
    whole = np.maximum(np.rint(line_center), 1.0)
    whole[whole == PLACEHOLDER_LINE] = PLACEHOLDER_LINE - 1.0
    base_line = np.select([line_kind == 0, line_kind == 1, line_kind == 2], [half, whole, np.nan], PLACEHOLDER_LINE)
    source = rng.choice(len(LINE_SOURCES), size=n_pl, p=[0.60, 0.25, 0.15])

    # (player, game, system) triples -------------------------------------------
    pool = np.flatnonzero(p_slot < _PREDICTABLE_SLOTS)
    n_pairs = len(pool) * n_sys
    n_trip = min(n_pairs, rows_wanted, max(1, round(rows_wanted / _ROWS_PER_TRIPLE))) if rows_wanted else 0
    pick = np.sort(rng.choice(n_pairs, size=n_trip, replace=False)) if n_trip else np.zeros(0, np.int64)
    t_pl = pool[pick // n_sys]
    t_sys = active[pick % n_sys]

    # guaranteed cases, each on distinct predicted players ---------------------
    systems_per_player = np.bincount(t_pl, minlength=n_pl)
    covered = rng.permutation(np.flatnonzero(systems_per_player > 0))
    taken = np.zeros(n_pl, dtype=bool)
    multi = covered[systems_per_player[covered] >= 2]
    for p in _take_roles(multi, taken, 4):  # NULL line, several systems
        base_line[p] = np.nan
    for p in _take_roles(covered, taken, 2):
        base_line[p] = PLACEHOLDER_LINE
    # (injury status, did not play, DNP shape): every void reason and DNP shape, every day
    forced_dnp = [
        (_OUT, True, _DNP_FLAG_MIN0),
        (_QUESTIONABLE, True, _DNP_FLAG_MINNULL),
        (_AVAILABLE, True, _DNP_ZERO_NOFLAG),
        (_NO_STATUS, True, _DNP_MISSING),
        (_DOUBTFUL, True, _DNP_FLAG_MIN0),
        (_PROBABLE, False, _DNP_FLAG_MIN0),
    ]
    chosen = _take_roles(covered, taken, len(forced_dnp))
    for p, (st, did_not_play, kind) in zip(chosen, forced_dnp):
        status[p], dnp[p], dnp_kind[p] = st, did_not_play, kind
    push_ok = covered[~dnp[covered] & (points[covered] >= 1) & (points[covered] != PLACEHOLDER_LINE)]
    push_ok = push_ok[np.argsort(-systems_per_player[push_ok], kind="stable")]
    for p in _take_roles(push_ok, taken, 3):  # line == actual
        base_line[p] = points[p]

    points = np.where(dnp, 0.0, points)
    minutes = np.where(dnp & (dnp_kind == _DNP_FLAG_MINNULL), np.nan, np.where(dnp, 0.0, minutes))
    is_dnp_flag = dnp & (dnp_kind != _DNP_ZERO_NOFLAG)
    has_actual = ~(dnp & (dnp_kind == _DNP_MISSING))
    played = ~dnp

    # rows per triple -> lines per triple -> runs per line -----------------------
    extra = rows_wanted - n_trip
    mult = 1 + (rng.multinomial(extra, np.full(n_trip, 1.0 / n_trip)) if n_trip and extra > 0 else np.zeros(n_trip, np.int64))
    fixed_line = np.isnan(base_line[t_pl]) | (base_line[t_pl] == PLACEHOLDER_LINE)
    n_lines = np.where(fixed_line, 1, 1 + np.minimum(rng.binomial(mult - 1, 0.5), _MAX_ALT_LINES))

    k_trip = np.repeat(np.arange(n_trip), n_lines)
    k_j = _within_groups(n_lines)
    k_mult, k_nl = mult[k_trip], n_lines[k_trip]
    k_runs = k_mult // k_nl + (k_j < k_mult % k_nl)
    k_base = base_line[t_pl[k_trip]]
    offset = np.ceil(k_j / 2) * np.where(k_j % 2 == 1, 1.0, -1.0)
    k_line = k_base + offset
    low = k_line < 0.5
    k_line[low] = k_base[low] + np.ceil(k_nl[low] / 2) + k_j[low]
    k_line[(k_line == PLACEHOLDER_LINE) & (k_base != PLACEHOLDER_LINE)] += 0.5
    n_keys = len(k_trip)

    r_key = np.repeat(np.arange(n_keys), k_runs)
    r_run = _within_groups(k_runs)
    r_trip = k_trip[r_key]
    r_pl = t_pl[r_trip]
    r_sys = t_sys[r_trip]
    n_rows = len(r_key)

    # predicted points -------------------------------------------------------------
    sig = _SYSTEM_SIGMA[t_sys]
    t_sd = sd[t_pl]
    noise_sd = np.sqrt(np.maximum(sig**2 - (_SHRINK * t_sd) ** 2, 0.25))
    noise = _SYSTEM_BIAS[t_sys] + noise_sd * rng.standard_normal(n_trip)
    t_mu, t_act = mu[t_pl], points[t_pl]
    t_pred = np.where(played[t_pl], t_act - _SHRINK * (t_act - t_mu), t_mu) + noise
    k_pred = np.maximum(t_pred[k_trip] + np.where(k_j > 0, 0.3 * rng.standard_normal(n_keys), 0.0), 0.0)
    # re-runs drift by >= 0.2 a run (upwards near 0), so every run of a key has its own value
    step = rng.uniform(0.2, 1.0, n_keys) * np.where((k_pred - k_runs < 0.5) | (rng.random(n_keys) < 0.5), 1.0, -1.0)
    pred = np.round(np.maximum(k_pred[r_key] + r_run * step[r_key], 0.0), 1)

    # created_at: pre-game runs 12:00-22:00 UTC on the game date ---------------------
    day_s = (date - dt.date(1970, 1, 1)).days * 86400
    first_s = 12 * 3600 + rng.integers(0, 4 * 3600, n_keys)
    gap_s = (6 * 3600 / k_runs) * rng.uniform(0.5, 1.0, n_keys)
    created_s = day_s + first_s[r_key] + np.floor(r_run * gap_s[r_key]).astype(np.int64)
    rerun_keys = np.flatnonzero(k_runs >= 2)
    if len(rerun_keys):
        n_post = max(1, round(_POSTGAME_SHARE * len(rerun_keys)))
        post_keys = rng.choice(rerun_keys, size=n_post, replace=False)
        post_rows = (np.cumsum(k_runs) - 1)[post_keys]  # last run of each
        created_s[post_rows] = day_s + 86400 + rng.integers(6 * 3600, 14 * 3600, n_post)
        leak_pl = r_pl[post_rows]
        leaked = np.round(np.maximum(points[leak_pl] + 0.7 * rng.standard_normal(n_post), 0.0), 1)
        leaked = np.where(played[leak_pl], leaked, pred[post_rows])
        first_rows = post_rows - (k_runs[post_keys] - 1)
        leaked = np.where(leaked == pred[first_rows], leaked + 0.1, leaked)
        pred[post_rows] = leaked

    # line, recommendation, confidence, the rest -------------------------------------
    line = k_line[r_key]
    no_line = np.isnan(line)
    edge = pred - line
    rec = np.where(edge > 0, 0, 1)
    rec = np.where(np.abs(edge) < _PASS_EDGE, 2, rec)
    hold = (rng.random(n_rows) < _HOLD_P) | (
        np.isin(status[r_pl], (_QUESTIONABLE, _DOUBTFUL)) & (rng.random(n_rows) < 0.3)
    )
    rec = np.where(hold, 3, rec)
    rec = np.where(no_line, 4, rec)

    conf = np.round(rng.beta(5.0, 4.0, n_rows), 3)
    sim_rows = r_sys == _SIMILARITY
    percent_share = rng.uniform(0.2, 1.0)
    sim_percent = sim_rows & (rng.random(n_rows) < percent_share)
    if sim_rows.any() and not sim_percent.any():
        sim_percent[np.flatnonzero(sim_rows)[0]] = True
    conf = np.where(sim_percent, np.round(conf * 100.0, 1), conf)
    version = _SYSTEM_VERSIONS[r_sys]
    version[sim_percent] = SIMILARITY_PERCENT_VERSION

    pace = np.where(r_sys == _MOVING_AVERAGE, np.nan, np.round(1.2 * rng.standard_normal(n_rows), 2))
    similar_vals = np.where(r_sys == _SIMILARITY, rng.integers(5, 61, n_rows), rng.integers(0, 31, n_rows))
    similar_mask = ~np.isin(r_sys, (_SIMILARITY, _ENSEMBLE))

    reason = np.where(rng.random(n_rows) < _INVALID_P, rng.integers(2, len(_REASONS), n_rows), 0)
    ruled_out = np.isin(status[r_pl], (_OUT, _DOUBTFUL)) & dnp[r_pl] & (rng.random(n_rows) < 0.3)
    reason = np.where(ruled_out, 1, reason)
    if n_rows and not reason.any():
        reason[int(rng.integers(n_rows))] = 2

    # The price of the pick: quoted where a sportsbook line was taken (drawn last, so that every
    # other value of a date is what it was before prices existed); NULL means standard -110.
    priced = (~no_line) & (source[r_pl] == 0) & (rng.random(n_rows) < 0.5)
    odds = rng.choice(np.array([-125, -120, -115, -110, -105, 100, 105, 110]), n_rows)

    predictions = {
        "player_lookup": roster.lookup[pid[r_pl]],
        "game_id": game_ids[p_game[r_pl]],
        "game_date": np.full(n_rows, date, dtype=object),
        "system_id": _SYSTEM_IDS[r_sys],
        "predicted_points": pred,
        "confidence_score": conf,
        "recommendation": _REC[rec],
        "current_points_line": line,
        "pace_adjustment": pace,
        "similar_games_count": similar_vals.astype(np.int64),
        "similar_games_count__mask": similar_mask,
        "model_version": version,
        "has_prop_line": ~no_line,
        "line_source": _SOURCES[np.where(no_line, len(LINE_SOURCES), source[r_pl])],
        "is_active": reason == 0,
        "invalidation_reason": _REASONS[reason],
        "injury_status_at_prediction": _STATUS[status[r_pl]],
        "created_at": created_s.astype(np.int64),
        "american_odds": odds.astype(np.int64),
        "american_odds__mask": ~priced,
    }
    a = np.flatnonzero(has_actual)
    actuals = {
        "player_lookup": roster.lookup[pid[a]],
        "game_id": game_ids[p_game[a]],
        "game_date": np.full(len(a), date, dtype=object),
        "team_abbr": _TEAM_ARR[p_team[a]],
        "opponent_team_abbr": _TEAM_ARR[p_opp[a]],
        "points": points[a].astype(np.int64),
        "minutes_played": minutes[a],
        "is_dnp": is_dnp_flag[a],
    }
    return predictions, actuals


# ---------------------------------------------------------------------------
# season


_EMPTY_PREDICTIONS = {
    "player_lookup": np.zeros(0, object),
    "game_id": np.zeros(0, object),
    "game_date": np.zeros(0, object),
    "system_id": np.zeros(0, object),
    "predicted_points": np.zeros(0, np.float64),
    "confidence_score": np.zeros(0, np.float64),
    "recommendation": np.zeros(0, object),
    "current_points_line": np.zeros(0, np.float64),
    "pace_adjustment": np.zeros(0, np.float64),
    "similar_games_count": np.zeros(0, np.int64),
    "similar_games_count__mask": np.zeros(0, bool),
    "model_version": np.zeros(0, object),
    "has_prop_line": np.zeros(0, bool),
    "line_source": np.zeros(0, object),
    "is_active": np.zeros(0, bool),
    "invalidation_reason": np.zeros(0, object),
    "injury_status_at_prediction": np.zeros(0, object),
    "created_at": np.zeros(0, np.int64),
    "american_odds": np.zeros(0, np.int64),
    "american_odds__mask": np.zeros(0, bool),
}
_EMPTY_ACTUALS = {
    "player_lookup": np.zeros(0, object),
    "game_id": np.zeros(0, object),
    "game_date": np.zeros(0, object),
    "team_abbr": np.zeros(0, object),
    "opponent_team_abbr": np.zeros(0, object),
    "points": np.zeros(0, np.int64),
    "minutes_played": np.zeros(0, np.float64),
    "is_dnp": np.zeros(0, bool),
}


def _concat(parts: list[dict], empty: dict) -> dict:
    parts = [empty, *parts]
    return {k: np.concatenate([p[k] for p in parts]) for k in empty}


def is_off_day(day_index: int, off_day_every: int) -> bool:
    """Whether day ``day_index`` (0-based from start_date) has no games."""
    return off_day_every > 0 and (day_index + 1) % off_day_every == 0


def generate_season(
    start_date: dt.date,
    days: int,
    predictions_per_day: int = 600,
    seed: int = 7,
    off_day_every: int = 9,
) -> SampleSeason:
    """Sample input tables for ``days`` calendar days from ``start_date``.

    Every ``off_day_every``-th day (the 9th, 18th, ... with the default; none
    when 0) has no games. Each game day gets ``predictions_per_day`` +- 5 %
    prediction rows. Same arguments -> identical frames. ``predictions_per_day=0``
    gives game days with box scores but no predictions (the "silent outage" case).
    """
    if days < 0:
        raise ValueError("days must be >= 0")
    if predictions_per_day < 0:
        raise ValueError("predictions_per_day must be >= 0")
    if isinstance(start_date, dt.datetime):
        start_date = start_date.date()

    pred_parts: list[dict] = []
    act_parts: list[dict] = []
    game_dates: list[dt.date] = []
    for i in range(days):
        if is_off_day(i, off_day_every):
            continue
        date = start_date + dt.timedelta(days=i)
        rng = np.random.default_rng([seed, date.toordinal(), predictions_per_day])
        rows_wanted = int(round(predictions_per_day * rng.uniform(0.95, 1.05)))
        p, a = _generate_day(rng, date, rows_wanted)
        pred_parts.append(p)
        act_parts.append(a)
        game_dates.append(date)

    p = _concat(pred_parts, _EMPTY_PREDICTIONS)
    a = _concat(act_parts, _EMPTY_ACTUALS)
    p["similar_games_count"] = pd.arrays.IntegerArray(p["similar_games_count"], p.pop("similar_games_count__mask"))
    p["american_odds"] = pd.arrays.IntegerArray(p["american_odds"], p.pop("american_odds__mask"))
    p["created_at"] = pd.to_datetime(p["created_at"], unit="s", utc=True).as_unit("ns")
    predictions = pd.DataFrame({c: p[c] for c in PREDICTION_COLUMNS})
    actuals = pd.DataFrame({c: a[c] for c in ACTUAL_COLUMNS})
    return SampleSeason(predictions=predictions, actuals=actuals, game_dates=game_dates)

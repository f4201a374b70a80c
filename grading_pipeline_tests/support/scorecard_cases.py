"""Hand-made picks over three dates for the scorecard, and an independent computation of every
figure from the outcomes alone (plain Python, none of the project's SQL), used on both engines.

catboost_v8, decided picks only counted:
* 2025-11-03: alpha OVER 18.5 scores 25 (a win, at +120), bravo UNDER 18.5 scores 25 (a loss),
  charlie OVER 25.0 scores 25 (a push: neither), delta did not play (a void: neither);
* 2025-11-04: echo PASS (graded, no pick): a 0-pick day;
* 2025-11-05: foxtrot OVER 18.5 scores 30 (a win, standard price), confidence 0.8.
The 30-day window ending 2025-11-05 reaches back to 2025-10-07, before the season starts.
"""

from __future__ import annotations

import datetime as dt
import math

from grading_pipeline_tests.support.warehouse_rows import actual, prediction

DAYS = (dt.date(2025, 11, 3), dt.date(2025, 11, 4), dt.date(2025, 11, 5))
Z = 1.959964


def game(day: dt.date) -> str:
    return f"{day:%Y%m%d}_BKN_MIL"


def cases():
    d1, d2, d3 = DAYS
    predictions = [
        prediction("alpha", game_id=game(d1), game_date=d1, recommendation="OVER", american_odds=120),
        prediction("bravo", game_id=game(d1), game_date=d1, recommendation="UNDER"),
        prediction("charlie", game_id=game(d1), game_date=d1, recommendation="OVER", current_points_line=25.0),
        prediction("delta", game_id=game(d1), game_date=d1, recommendation="OVER"),
        prediction("echo", game_id=game(d2), game_date=d2, recommendation="PASS", created_at=None),
        prediction("foxtrot", game_id=game(d3), game_date=d3, recommendation="OVER", confidence_score=0.8,
                   created_at=None),
    ]
    actuals = [
        actual("alpha", 25, game_id=game(d1), game_date=d1),
        actual("bravo", 25, game_id=game(d1), game_date=d1),
        actual("charlie", 25, game_id=game(d1), game_date=d1),
        actual("delta", 0, 0.0, game_id=game(d1), game_date=d1, is_dnp=True),
        actual("echo", 19, game_id=game(d2), game_date=d2),
        actual("foxtrot", 30, game_id=game(d3), game_date=d3),
    ]
    return predictions, actuals


# (date, outcome, price profit on a win, confidence, absolute error) of every graded row; outcome
# None for a push, a void or a pass (not a decided pick), absolute error None for a void.
ROWS = [
    (DAYS[0], True, 1.2, 0.6, 4.5), (DAYS[0], False, None, 0.6, 4.5), (DAYS[0], None, None, 0.6, 4.5),
    (DAYS[0], None, None, 0.6, None), (DAYS[1], None, None, 0.6, 1.5), (DAYS[2], True, 100 / 110, 0.8, 9.5),
]


def expected(day: dt.date, window: int) -> dict:
    start = day - dt.timedelta(days=window - 1)
    rows = [r for r in ROWS if start <= r[0] <= day]
    decided = [r for r in rows if r[1] is not None]
    wins = sum(1 for r in decided if r[1])
    n = len(decided)
    out = {"decided_picks": n, "wins": wins, "losses": n - wins, "window_start": start}
    if n:
        p = wins / n
        centre, spread, scale = p + Z * Z / (2 * n), Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)), 1 + Z * Z / n
        out.update(win_rate=round(p, 4), win_rate_lower=round((centre - spread) / scale, 4),
                   win_rate_upper=round((centre + spread) / scale, 4))
        units = sum(100 / 110 if r[1] else -1.0 for r in decided)
        at_price = sum((r[2] or 100 / 110) if r[1] else -1.0 for r in decided)
        out.update(units_won=round(units, 4), roi=round(units / n, 4), units_won_at_price=round(at_price, 4),
                   roi_at_price=round(at_price / n, 4),
                   brier_score=round(sum((r[3] - (1 if r[1] else 0)) ** 2 for r in decided) / n, 4))
        out["beats_break_even"] = (centre - spread) / scale > 110 / 210
    else:
        out.update(win_rate=None, roi=None, units_won=0.0, beats_break_even=False, brier_score=None)
    played = [r[4] for r in rows if r[4] is not None]
    out["mae"] = round(sum(played) / len(played), 3) if played else None
    return out

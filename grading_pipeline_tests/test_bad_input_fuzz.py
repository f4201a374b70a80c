"""Fuzz: a graded date's inputs mutated in many ways, graded again, and the invariant held on every
mutation: either a clear error (a GradingError, or a rolled-back write) with both tables exactly as
they were, row for row, or a committed write whose rows pass every check and follow the grading
rules. Never duplicates, never a partial date, never an engine error leaking out.

Seeded (FUZZ_SEED, FUZZ_MUTATIONS to explore more) and bounded: the default 150 mutations take about
half a minute on 2 cores.
"""

from __future__ import annotations

import datetime as dt
import os
import random
from collections import Counter

import pytest

from grading_pipeline.audits import AUDITS
from grading_pipeline.errors import GradingError
from grading_pipeline.grading import audit_stored, publish_dates
from grading_pipeline_tests.support.warehouse_rows import ACTUALS, PREDICTIONS, load_season

DAY = dt.date(2025, 11, 4)
MUTATIONS = int(os.environ.get("FUZZ_MUTATIONS", "150"))
SEED = int(os.environ.get("FUZZ_SEED", "20261201"))

P, A = PREDICTIONS, ACTUALS
PREDICTION_COLUMNS = ["player_lookup", "game_id", "system_id", "predicted_points", "confidence_score",
                      "recommendation", "current_points_line", "model_version", "is_active", "created_at"]
ACTUAL_COLUMNS = ["player_lookup", "game_id", "team_abbr", "opponent_team_abbr", "points", "minutes_played", "is_dnp"]
WRONG_VALUES = {
    "predicted_points": ["-3", "1e9", "0", "99.5"],
    "confidence_score": ["150", "-5", "1", "0", "'nan'::DOUBLE", "65"],
    "recommendation": ["'BUY'", "''", "' OVER '", "'over'", "'PASS'"],
    "current_points_line": ["20.0", "-1", "0.5"],
    "points": ["-4", "250", "0"],
    "minutes_played": ["-1", "0"],
    "created_at": [f"TIMESTAMPTZ '{DAY + dt.timedelta(days=1)} 09:00:00+00'", f"TIMESTAMPTZ '{DAY} 01:00:00+00'"],
    "team_abbr": ["'XXX'"],
    "is_dnp": ["TRUE"],
}


def some_rows(rng: random.Random, table: str, n: int) -> str:
    """A predicate picking about n random rows of the date (by rowid, stable within a mutation)."""
    return f"rowid IN (SELECT rowid FROM {table} WHERE game_date = DATE '{DAY}' ORDER BY hash(rowid + {rng.randrange(10**6)}) LIMIT {n})"


def mutations(rng: random.Random) -> list[str]:
    """One to three SQL changes of the date's inputs."""
    changes = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.choice(("duplicate", "delete", "null", "wrong", "conflict", "empty"))
        table, columns = rng.choice(((P, PREDICTION_COLUMNS), (A, ACTUAL_COLUMNS)))
        n = rng.choice((1, 2, 5, 20))
        if kind == "duplicate":
            changes.append(f"INSERT INTO {table} SELECT * FROM {table} WHERE {some_rows(rng, table, n)}")
        elif kind == "delete":
            changes.append(f"DELETE FROM {table} WHERE {some_rows(rng, table, n)}")
        elif kind == "null":
            changes.append(f"UPDATE {table} SET {rng.choice(columns)} = NULL WHERE {some_rows(rng, table, n)}")
        elif kind == "wrong":
            column = rng.choice([c for c in columns if c in WRONG_VALUES])
            changes.append(f"UPDATE {table} SET {column} = {rng.choice(WRONG_VALUES[column])} WHERE {some_rows(rng, table, n)}")
        elif kind == "conflict":  # a second version of some rows, one column changed
            column = rng.choice([c for c in columns if c in WRONG_VALUES])
            changes.append(f"INSERT INTO {table} SELECT * REPLACE ({rng.choice(WRONG_VALUES[column])} AS {column}) "
                           f"FROM {table} WHERE {some_rows(rng, table, n)}")
        else:
            changes.append(f"DELETE FROM {table} WHERE game_date = DATE '{DAY}'")
    return changes


def snapshot(con) -> tuple[list, list]:
    return (
        con.execute(f"SELECT * EXCLUDE (graded_at) FROM nba_predictions.prediction_accuracy ORDER BY ALL").fetchall(),
        con.execute(f"SELECT * EXCLUDE (computed_at) FROM nba_predictions.system_daily_performance ORDER BY ALL").fetchall(),
    )


def follows_the_rules(con) -> list[str]:
    """Rules of the grading checked on the committed rows, independently of its SQL."""
    broken = con.execute(f"""
        SELECT
          COUNT_IF(prediction_correct IS NOT NULL AND prediction_correct <> ((actual_points > line_value) = (recommendation = 'OVER'))),
          COUNT_IF(prediction_correct IS NOT NULL AND recommendation NOT IN ('OVER', 'UNDER')),
          COUNT_IF(is_voided AND (absolute_error IS NOT NULL OR prediction_correct IS NOT NULL)),
          COUNT_IF(NOT is_voided AND absolute_error <> ABS(predicted_points - actual_points)),
          COUNT_IF(line_value = 20.0),
          COUNT_IF(prediction_created_at >= CAST(game_date AS TIMESTAMPTZ) + INTERVAL 30 HOUR),
          COUNT_IF(actual_points < 0 OR predicted_points < 0)
        FROM nba_predictions.prediction_accuracy WHERE game_date = DATE '{DAY}'
    """).fetchone()
    names = ("correctness", "correct without a pick", "void with a grade", "absolute error", "placeholder line",
             "post-game prediction", "negative points")
    return [name for name, count in zip(names, broken) if count]


@pytest.fixture
def session(warehouse):
    season = load_season(warehouse, DAY, 1, 150, 13)
    with warehouse.session() as session:
        session.con.execute("CREATE SCHEMA fuzz")
        session.con.execute(f"CREATE TABLE fuzz.predictions AS SELECT * FROM {P}")
        session.con.execute(f"CREATE TABLE fuzz.actuals AS SELECT * FROM {A}")
        assert publish_dates(session, DAY, DAY).committed
        yield session


def test_every_mutation_is_a_clear_error_with_nothing_lost_or_a_clean_grade(session):
    rng = random.Random(SEED)
    con = session.con
    outcomes: Counter = Counter()
    for i in range(MUTATIONS):
        con.execute(f"DELETE FROM {P}; INSERT INTO {P} SELECT * FROM fuzz.predictions")
        con.execute(f"DELETE FROM {A}; INSERT INTO {A} SELECT * FROM fuzz.actuals")
        changes = mutations(rng)
        for change in changes:
            con.execute(change)
        before = snapshot(con)
        where = f"mutation {i}: {changes}"
        try:
            published = publish_dates(session, DAY, DAY)
        except GradingError as error:
            assert str(error).strip(), where
            assert snapshot(con) == before, f"{where}: failed ({error}) but changed the tables"
            outcomes[type(error).__name__] += 1
            continue
        if not published.committed:
            assert snapshot(con) == before, f"{where}: rolled back but changed the tables"
            assert published.failure_message(), where
            outcomes["rolled back: " + ", ".join(published.publication.blocked_by)] += 1
            continue
        stored = audit_stored(session, DAY, DAY, AUDITS)
        failed = {name: f.description for name, by_date in stored.items() for f in by_date.values()
                  if not f.passed and AUDITS[[a.name for a in AUDITS].index(name)].blocking}
        assert not failed, f"{where}: committed rows fail {failed}"
        assert not follows_the_rules(con), f"{where}: committed rows break {follows_the_rules(con)}"
        outcomes["graded"] += 1
    print(f"\n{MUTATIONS} mutations (seed {SEED}): " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    # The mutations reach every outcome: a fuzz that only ever hits one path proves little.
    assert outcomes["graded"] > 0 and sum(v for k, v in outcomes.items() if k != "graded") > MUTATIONS // 4

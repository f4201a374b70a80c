"""Grading that follows its inputs, evaluated against a real Dagster instance: box scores that land
late are graded once when they arrive; a stat correction two days later re-grades that date, and
only it, once; untouched dates get nothing."""

from __future__ import annotations

import datetime as dt
import json

from dagster import build_sensor_context

from grading_pipeline.automation import REASON_TAG, grade_when_inputs_ready, grading_requests
from grading_pipeline.tables import ACTUALS
from grading_pipeline_tests.support.warehouse_rows import ACTUALS as ACTUALS_TABLE
from grading_pipeline_tests.support.warehouse_rows import PREDICTIONS, actual, frame, load, prediction

DAYS = [dt.date(2025, 11, 3), dt.date(2025, 11, 4), dt.date(2025, 11, 5)]
NOW = dt.datetime(2025, 11, 6, 9, tzinfo=dt.timezone.utc)
PLAYERS = ("alpha", "bravo", "charlie")


def requests(warehouse, instance):
    found, _ = grading_requests(instance, warehouse, DAYS[0], DAYS[-1], now=NOW)
    return {r.partition_key: r for r in found}


def test_late_box_scores_are_graded_once_and_a_correction_regrades_only_its_date(warehouse, instance, grade):
    predictions = [prediction(p, game_date=d) for d in DAYS[:2] for p in PLAYERS]
    load(warehouse, predictions, [actual(p, 20, game_date=DAYS[0]) for p in PLAYERS], dates=DAYS)
    # DAYS[1]'s box scores are late; DAYS[2] had no games.
    first = requests(warehouse, instance)
    assert set(first) == {DAYS[0].isoformat()} and first[DAYS[0].isoformat()].tags[REASON_TAG] == "inputs complete"
    assert requests(warehouse, instance)[DAYS[0].isoformat()].run_key == first[DAYS[0].isoformat()].run_key  # once
    grade(DAYS[0])
    assert requests(warehouse, instance) == {}

    warehouse.load_rows(ACTUALS_TABLE, frame(ACTUALS_TABLE, [actual(p, 25, game_date=DAYS[1]) for p in PLAYERS]), [DAYS[1]])
    arrived = requests(warehouse, instance)
    assert set(arrived) == {DAYS[1].isoformat()}
    grade(DAYS[1])
    assert requests(warehouse, instance) == {}

    # Two days later the NBA corrects one stat of the first date.
    with warehouse._connection() as con:
        con.execute(f"UPDATE {ACTUALS_TABLE} SET points = 31 WHERE game_date = ? AND player_lookup = 'bravo'", [DAYS[0]])
    corrected = requests(warehouse, instance)
    assert set(corrected) == {DAYS[0].isoformat()}
    assert corrected[DAYS[0].isoformat()].tags[REASON_TAG] == f"inputs changed since graded: {ACTUALS.name}"
    assert corrected[DAYS[0].isoformat()].run_key != first[DAYS[0].isoformat()].run_key  # a new change, a new run
    grade(DAYS[0])
    assert requests(warehouse, instance) == {}


def test_the_sensor_requests_runs_and_records_moved_fingerprints_as_observations(warehouse, instance, monkeypatch):
    monkeypatch.setattr("grading_pipeline.automation.observation_window", lambda: (DAYS[0], DAYS[-1]))
    load(warehouse, [prediction(p, game_date=DAYS[0]) for p in PLAYERS], [actual(p, 20, game_date=DAYS[0]) for p in PLAYERS],
         dates=DAYS)
    context = build_sensor_context(instance=instance, resources={"warehouse": warehouse})
    result = grade_when_inputs_ready(context)
    assert [r.partition_key for r in result.run_requests] == [DAYS[0].isoformat()]
    assert len(result.asset_events) == 2 * len(DAYS)  # both inputs, every date: first sight
    again = grade_when_inputs_ready(build_sensor_context(instance=instance, resources={"warehouse": warehouse},
                                                         cursor=result.cursor))
    assert again.asset_events == []  # nothing moved since the last tick
    assert json.loads(again.cursor)[DAYS[0].isoformat()][PREDICTIONS].startswith("rows=3;")

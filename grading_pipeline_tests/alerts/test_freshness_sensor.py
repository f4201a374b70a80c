"""The freshness promise against a real instance and the real slack_sdk client (local Slack server):
a date past its deadline ungraded fails `graded_by_deadline` on its partition and is one Slack
message saying why; a day without games never alarms; a grading records the check passed."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from dagster import AssetCheckEvaluation, AssetCheckKey, build_sensor_context

from grading_pipeline.freshness import FRESHNESS_CHECK, freshness_sensor, freshness_tick
from grading_pipeline.tables import PREDICTION_ACCURACY
from grading_pipeline_tests.support.warehouse_rows import ACTUALS, actual, frame, load, prediction

DAYS = [dt.date(2025, 11, 3), dt.date(2025, 11, 4), dt.date(2025, 11, 5), dt.date(2025, 11, 6)]
CHECK = AssetCheckKey(PREDICTION_ACCURACY.asset_key, FRESHNESS_CHECK)
PLAYERS = ("alpha", "bravo")


@pytest.fixture(autouse=True)
def window(monkeypatch):
    monkeypatch.setattr("grading_pipeline.freshness.observation_window", lambda: (DAYS[0], DAYS[-1]))


def tick(instance, warehouse, slack_alerts, cursor):
    context = build_sensor_context(instance=instance, cursor=cursor,
                                   resources={"warehouse": warehouse, "slack_alerts": slack_alerts})
    result = freshness_sensor(context)
    for event in result.asset_events:  # what the daemon does with a sensor's asset events
        instance.report_runless_asset_event(event)
    return result


def latest_evaluation(instance, day: dt.date):
    history = instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=50)
    for record in history:
        evaluation = record.event.dagster_event.event_specific_data  # or the plan of a run that failed
        if isinstance(evaluation, AssetCheckEvaluation) and evaluation.partition == day.isoformat():
            return evaluation
    return None


def test_missed_dates_fail_the_check_and_are_one_message_saying_why(grade, warehouse, instance, slack_server, slack_alerts):
    # DAYS[0]: box scores in, never launched; DAYS[1]: box scores never loaded; DAYS[2]: its run
    # failed (too few box scores); DAYS[3]: no games.
    predictions = [prediction(p, game_date=d) for d in DAYS[:3] for p in PLAYERS]
    actuals = [actual(p, 20, game_date=DAYS[0]) for p in PLAYERS] + [actual("alpha", 20, game_date=DAYS[2])]
    load(warehouse, predictions, actuals, dates=DAYS)
    failed = grade(DAYS[2], raise_on_error=False, run_config={"ops": {"grade_game_dates": {"config": {"min_actuals_coverage": 1.0}}}})
    assert not failed.success

    first = tick(instance, warehouse, slack_alerts, None)
    verdicts = {e.partition: e.passed for e in first.asset_events}
    assert verdicts == {**{d.isoformat(): False for d in DAYS[:3]}, DAYS[3].isoformat(): True}
    (message,) = slack_server.messages
    text = html.unescape(message["text"])
    assert message["blocks"][0]["text"]["text"] == f"NOT GRADED by the deadline: prediction_accuracy {DAYS[0]}..{DAYS[2]}"
    assert f"• {DAYS[0]}: nothing was launched for it" in text
    assert f"• {DAYS[1]}: no box scores loaded for it" in text
    assert f"• {DAYS[2]}: its run {failed.run_id} failed" in text and f"/runs/{failed.run_id}" in text
    assert str(DAYS[3]) not in text  # a day without games never alarms
    assert latest_evaluation(instance, DAYS[1]).passed is False
    assert latest_evaluation(instance, DAYS[3]).description == "no games: nothing to grade"  # passes

    again = tick(instance, warehouse, slack_alerts, first.cursor)
    assert again.asset_events == [] and len(slack_server.messages) == 1  # once per miss

    # The box scores land; the grading records the promise kept (late), and nothing alarms again.
    warehouse.load_rows(ACTUALS, frame(ACTUALS, [actual(p, 18, game_date=DAYS[1]) for p in PLAYERS]), [DAYS[1]])
    grade(DAYS[1])
    evaluation = latest_evaluation(instance, DAYS[1])
    assert evaluation.passed and evaluation.metadata["on_time"].value is False
    assert evaluation.metadata["late_by_hours"].value > 24
    tick(instance, warehouse, slack_alerts, again.cursor)
    assert len(slack_server.messages) == 1


def test_yesterday_is_late_only_after_its_deadline(warehouse, instance):
    day = DAYS[0]
    load(warehouse, [prediction(p, game_date=day) for p in PLAYERS], [], dates=[day])
    before = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(11, 59), dt.timezone.utc)
    evaluations, missed, states = freshness_tick(instance, warehouse, {}, day, day, now=before)
    assert (evaluations, missed, states) == ([], [], {day.isoformat(): "waiting for box scores"})
    after = before + dt.timedelta(minutes=2)  # past the default deadline, 12:00 UTC of the next day
    evaluations, missed, states = freshness_tick(instance, warehouse, states, day, day, now=after)
    assert states == {day.isoformat(): "LATE"} and [m.reason for m in missed] == ["no box scores loaded for it"]
    assert [(e.partition, e.passed) for e in evaluations] == [(day.isoformat(), False)]

"""stat_correction_sensor on the project's real assets and the real slack_sdk client (local Slack
server): a re-grade that flips grades is one message with the date, the count and each system's
win rate before and after; a re-grade that changes nothing, and a first grading, send none."""

from __future__ import annotations

import html

from grading_pipeline.sensors import stat_correction_sensor
from grading_pipeline_tests.alerts.conftest import WEBSERVER, tick
from grading_pipeline_tests.support.warehouse_rows import ACTUALS, GAME_DATE, actual, frame, load, prediction

PLAYERS = ("alpha", "bravo", "charlie")


def test_a_regrade_that_flips_grades_is_one_slack_message(grade, warehouse, instance, slack_server, slack_alerts):
    load(warehouse, [prediction(p) for p in PLAYERS], [actual(p, 20) for p in PLAYERS])
    cursor = tick(stat_correction_sensor, instance, slack_alerts, None).cursor
    grade(GAME_DATE)  # first grading
    grade(GAME_DATE)  # nothing changed
    cursor = tick(stat_correction_sensor, instance, slack_alerts, cursor).cursor
    assert slack_server.messages == []

    warehouse.load_rows(ACTUALS, frame(ACTUALS, [actual("alpha", 20), actual("bravo", 11), actual("charlie", 20)]), [GAME_DATE])
    result = grade(GAME_DATE)
    for _ in range(2):
        cursor = tick(stat_correction_sensor, instance, slack_alerts, cursor).cursor
    (message,) = slack_server.messages
    title = message["blocks"][0]["text"]["text"]
    assert title == f"stat correction: {GAME_DATE}, 1 grade changed, catboost_v8 win rate 1.000 -> 0.667"
    assert "• catboost_v8: 1 grades changed, win rate 1.000 -> 0.667" in html.unescape(message["text"])  # Slack escapes >
    assert f"{WEBSERVER}/runs/{result.run_id}" in message["text"]

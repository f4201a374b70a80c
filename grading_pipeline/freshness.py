"""The freshness promise: each game date is graded by GRADING_FRESHNESS_DEADLINE (HH:MM UTC, default
12:00) of the next day. Its check, `graded_by_deadline`, is partition-aware:

* a grading run records it passed on each date it publishes (with when, against the deadline);
* `freshness_sensor` records it FAILED on each date whose deadline passed without a grading, and
  sends one Slack message naming the dates and why, where known: no box scores (or no predictions)
  loaded, the run that failed (with its link), a run still queued or running, or nothing launched
  (daemon down, schedule off). Days without games never alarm.

The states come from `status.date_statuses` (what `grading-pipeline status` prints)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from grading_pipeline.alerts.messages import missed_deadline_alert
from grading_pipeline.alerts.slack import SlackAlerts
from grading_pipeline.observations import NO_ROWS, observation_window
from grading_pipeline.status import DateStatus, date_statuses, freshness_deadline
from grading_pipeline.tables import ACTUALS, PREDICTION_ACCURACY, PREDICTIONS
from grading_pipeline.warehouse.base import Warehouse

FRESHNESS_CHECK = "graded_by_deadline"
DESCRIPTION = ("The game date is graded by GRADING_FRESHNESS_DEADLINE (default 12:00 UTC) of the next day. Fails "
               "(from freshness_sensor) on a date whose deadline passed without a grading; days without games "
               "never fail.")
MISSED = ("LATE", "NOT GRADED")
INTERVAL_SECONDS = 300


@dataclass(frozen=True)
class MissedDate:
    game_date: dt.date
    reason: str
    run_id: str | None = None  # the run that failed or is still waiting, when there is one


def graded_evaluation(game_date: dt.date, graded_at: dt.datetime, target=None) -> AssetCheckEvaluation:
    """A date graded: passed, with when against its deadline. `target`: the materialization it judges."""
    deadline = freshness_deadline(game_date)
    late = graded_at - deadline
    metadata = {"game_date": game_date.isoformat(), "deadline": deadline.isoformat(),
                "graded_at": graded_at.isoformat(timespec="seconds"), "on_time": late <= dt.timedelta(0)}
    if late > dt.timedelta(0):
        metadata["late_by_hours"] = round(late.total_seconds() / 3600, 2)
    return AssetCheckEvaluation(asset_key=PREDICTION_ACCURACY.asset_key, check_name=FRESHNESS_CHECK, passed=True,
                                partition=game_date.isoformat(), metadata=metadata, target_materialization_data=target)


def evaluations_now(instance: DagsterInstance, warehouse: Warehouse, start: dt.date, end: dt.date,
                    now: dt.datetime | None = None, targets: dict | None = None) -> list[AssetCheckEvaluation]:
    """Every date of [start, end] judged now (the check run on its own, from the UI): graded, missed,
    or not due yet / no games (passed, saying which). `targets`: partition -> its latest materialization."""
    evaluations = []
    for status in date_statuses(instance, warehouse, start, end, now):
        if status.graded_at is not None:
            evaluations.append(graded_evaluation(status.game_date, status.graded_at,
                                                 (targets or {}).get(status.game_date.isoformat())))
        elif status.state in MISSED:
            evaluations.append(missed_evaluation(why_not_graded(instance, status)))
        elif status.state == "no games":
            evaluations.append(no_games_evaluation(status.game_date))
        else:
            evaluations.append(AssetCheckEvaluation(
                asset_key=PREDICTION_ACCURACY.asset_key, check_name=FRESHNESS_CHECK, passed=True,
                partition=status.game_date.isoformat(), description=status.state,
                metadata={"game_date": status.game_date.isoformat(), "state": status.state,
                          "deadline": freshness_deadline(status.game_date).isoformat()}))
    return evaluations


def why_not_graded(instance: DagsterInstance, status: DateStatus) -> MissedDate:
    """What is known of why a date is not graded: its inputs, else its latest run."""
    inputs = status.inputs_now
    if inputs[ACTUALS.name] == NO_ROWS:
        return MissedDate(status.game_date, "no box scores loaded for it")
    if inputs[PREDICTIONS.name] == NO_ROWS:
        return MissedDate(status.game_date, "box scores but no predictions loaded for it")
    # Runs of this one partition (schedule, sensor, UI); a range run carries no partition tag.
    records = instance.get_run_records(RunsFilter(tags={"dagster/partition": status.game_date.isoformat()}), limit=1)
    if not records:
        return MissedDate(status.game_date, "nothing was launched for it (is the daemon running, the schedule on?)")
    run = records[0].dagster_run
    if run.status == DagsterRunStatus.FAILURE:
        return MissedDate(status.game_date, f"its run {run.run_id} failed", run.run_id)
    if run.status == DagsterRunStatus.SUCCESS:
        return MissedDate(status.game_date, f"its run {run.run_id} succeeded without grading it", run.run_id)
    return MissedDate(status.game_date, f"its run {run.run_id} is {run.status.value}", run.run_id)


def no_games_evaluation(game_date: dt.date) -> AssetCheckEvaluation:
    return AssetCheckEvaluation(
        asset_key=PREDICTION_ACCURACY.asset_key, check_name=FRESHNESS_CHECK, passed=True, partition=game_date.isoformat(),
        description="no games: nothing to grade",
        metadata={"game_date": game_date.isoformat(), "state": "no games",
                  "deadline": freshness_deadline(game_date).isoformat()},
    )


def now_or_utc(now: dt.datetime | None) -> dt.datetime:
    return now or dt.datetime.now(dt.timezone.utc)


def missed_evaluation(missed: MissedDate) -> AssetCheckEvaluation:
    metadata = {"game_date": missed.game_date.isoformat(), "deadline": freshness_deadline(missed.game_date).isoformat(),
                "reason": missed.reason}
    if missed.run_id:
        metadata["run_id"] = missed.run_id
    return AssetCheckEvaluation(
        asset_key=PREDICTION_ACCURACY.asset_key, check_name=FRESHNESS_CHECK, passed=False,
        partition=missed.game_date.isoformat(), severity=AssetCheckSeverity.ERROR, metadata=metadata,
        description=f"not graded by its deadline: {missed.reason}",
    )


def freshness_tick(instance: DagsterInstance, warehouse: Warehouse, seen: dict[str, str],
                   start: dt.date, end: dt.date, now: dt.datetime | None = None):
    """(the evaluations to record, the dates newly missed, each date's state): an evaluation only
    when a date's state changed since `seen` (date -> state)."""
    statuses = date_statuses(instance, warehouse, start, end, now)
    evaluations, newly_missed = [], []
    for status in statuses:
        day = status.game_date.isoformat()
        if status.state in MISSED and seen.get(day) not in MISSED:
            missed = why_not_graded(instance, status)
            newly_missed.append(missed)
            evaluations.append(missed_evaluation(missed))
        elif status.state == "no games" and seen.get(day) != "no games" and now_or_utc(now) >= freshness_deadline(status.game_date):
            evaluations.append(no_games_evaluation(status.game_date))  # a promise kept: nothing to grade
    return evaluations, newly_missed, {s.game_date.isoformat(): s.state for s in statuses}


@sensor(
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="The freshness promise: records graded_by_deadline FAILED on each recent game date whose deadline "
                "(GRADING_FRESHNESS_DEADLINE) passed without a grading, and sends one Slack message naming the "
                "dates and why. Days without games never alarm.",
)
def freshness_sensor(context: SensorEvaluationContext, warehouse: Warehouse, slack_alerts: SlackAlerts) -> SensorResult:
    start, end = observation_window()
    seen = json.loads(context.cursor) if context.cursor else {}
    evaluations, missed, states = freshness_tick(context.instance, warehouse, seen, start, end)
    if missed:
        # Raises when Slack cannot be reached: the tick fails and keeps its cursor, so it is retried.
        slack_alerts.send(missed_deadline_alert(missed, webserver_base_url=slack_alerts.webserver_base_url),
                          log=context.log)
    if not evaluations:
        return SensorResult(cursor=json.dumps(states), skip_reason="No date newly past its deadline ungraded.")
    return SensorResult(asset_events=evaluations, cursor=json.dumps(states))

"""Grading that follows its inputs: a sensor that grades a recent game date once its box scores
have arrived (rather than blindly at 11:00, which stays as the deadline schedule), and grades a
date again when its inputs change after it was graded (a stat correction), once per change."""

from __future__ import annotations

import datetime as dt
import json

from dagster import (
    AssetObservation,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from grading_pipeline.grading import GradingPolicy, readiness
from grading_pipeline.jobs import grade_game_date_job
from grading_pipeline.observations import observation_window
from grading_pipeline.status import date_statuses
from grading_pipeline.tables import INPUT_TABLES
from grading_pipeline.warehouse.base import Warehouse

INTERVAL_SECONDS = 300  # box scores at 14:00 are graded by 14:05
REASON_TAG = "grading/reason"


def grading_requests(instance, warehouse: Warehouse, start: dt.date, end: dt.date, now: dt.datetime | None = None,
                     policy: GradingPolicy = GradingPolicy()) -> tuple[list[RunRequest], dict[str, dict[str, str]]]:
    """The runs the inputs call for now, and each date's inputs fingerprints (date -> table -> version).
    A request's run_key is the date and its inputs' versions: at most one run per change."""
    statuses = date_statuses(instance, warehouse, start, end, now)
    with warehouse.session(read_only=True) as session:
        blockers = readiness(session, start, end, policy)
    requests = []
    for status in statuses:
        day = status.game_date.isoformat()
        versions = "|".join(status.inputs_now[t.name] for t in INPUT_TABLES)
        if status.state == "INPUTS CHANGED":
            reason = f"inputs changed since graded: {', '.join(status.changed)}"
        elif status.graded_at is None and status.game_date in blockers and blockers[status.game_date] is None:
            reason = "inputs complete"
        else:
            continue
        requests.append(RunRequest(run_key=f"{day}:{versions}", partition_key=day, tags={REASON_TAG: reason}))
    return requests, {s.game_date.isoformat(): s.inputs_now for s in statuses}


@sensor(
    job=grade_game_date_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Grades a recent game date once its box scores are complete, and again when its inputs change "
                "after it was graded (a stat correction): one run per change, within GRADING_OBSERVATION_DAYS.",
)
def grade_when_inputs_ready(context: SensorEvaluationContext, warehouse: Warehouse) -> SensorResult | SkipReason:
    start, end = observation_window()
    requests, versions = grading_requests(context.instance, warehouse, start, end)
    seen = json.loads(context.cursor) if context.cursor else {}
    # The dates whose fingerprints moved since the last tick, recorded as observations (data versions).
    observations = [AssetObservation(table.asset_key, partition=day, tags={"dagster/data_version": by_table[table.name]})
                    for day, by_table in versions.items() for table in INPUT_TABLES
                    if seen.get(day, {}).get(table.name) != by_table[table.name]]
    return SensorResult(run_requests=requests, asset_events=observations, cursor=json.dumps(versions))

"""Per recent game date: graded or not, when and by which run, whether its inputs changed since, and
its freshness. Read from the Dagster instance (the materializations) and the warehouse (the inputs'
fingerprints now); what `grading-pipeline status` prints and gates on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import AssetRecordsFilter, DagsterEventType, DagsterInstance

from grading_pipeline import settings
from grading_pipeline.observations import NO_ROWS, input_fingerprints
from grading_pipeline.tables import ACTUALS, INPUT_TABLES, PREDICTION_ACCURACY, PREDICTIONS
from grading_pipeline.warehouse.base import Warehouse

# States that need someone (or the automation) to act; the others are fine as they are.
NEEDS_ACTION = ("NOT GRADED", "LATE", "INPUTS CHANGED")


@dataclass(frozen=True)
class DateStatus:
    game_date: dt.date
    state: str  # ok / no games / waiting for box scores / NOT GRADED / LATE / INPUTS CHANGED
    graded_at: dt.datetime | None
    run_id: str | None
    inputs_now: dict[str, str]
    changed: tuple[str, ...]  # the inputs whose fingerprint differs from the one graded from

    @property
    def needs_action(self) -> bool:
        return self.state in NEEDS_ACTION


def freshness_deadline(game_date: dt.date) -> dt.datetime:
    """When a game date must be graded: GRADING_FRESHNESS_DEADLINE (HH:MM UTC) of the next day."""
    return dt.datetime.combine(game_date + dt.timedelta(days=1), settings.freshness_deadline(), dt.timezone.utc)


def date_statuses(instance: DagsterInstance, warehouse: Warehouse, start: dt.date, end: dt.date,
                  now: dt.datetime | None = None) -> list[DateStatus]:
    now = now or dt.datetime.now(dt.timezone.utc)
    with warehouse.session(read_only=True) as session:
        inputs = {table.name: input_fingerprints(session, table, start, end) for table in INPUT_TABLES}
    graded = _latest_gradings(instance, [start + dt.timedelta(days=i) for i in range((end - start).days + 1)])
    statuses = []
    for day in sorted(inputs[PREDICTIONS.name]):
        now_versions = {name: versions[day] for name, versions in inputs.items()}
        record = graded.get(day)
        if record is None:
            state = _ungraded_state(day, now_versions, now)
            statuses.append(DateStatus(day, state, None, None, now_versions, ()))
            continue
        metadata = record.asset_materialization.metadata
        changed = tuple(name for name, version in now_versions.items()
                        if (was := metadata.get(f"graded_from_{name.split('.')[1]}")) is not None and was.value != version)
        statuses.append(DateStatus(day, "INPUTS CHANGED" if changed else "ok",
                                   dt.datetime.fromtimestamp(record.timestamp, dt.timezone.utc), record.run_id,
                                   now_versions, changed))
    return statuses


def _ungraded_state(day: dt.date, versions: dict[str, str], now: dt.datetime) -> str:
    if versions[PREDICTIONS.name] == NO_ROWS and versions[ACTUALS.name] == NO_ROWS:
        return "no games"  # nothing to grade: never an alarm
    if now < freshness_deadline(day):
        return "waiting for box scores" if versions[ACTUALS.name] == NO_ROWS else "not graded yet"
    return "LATE" if day >= (now - dt.timedelta(days=1)).date() else "NOT GRADED"


def _latest_gradings(instance: DagsterInstance, days: list[dt.date]) -> dict:
    """Each date's latest materialization of prediction_accuracy (two queries for the window)."""
    latest = instance.get_latest_storage_id_by_partition(
        PREDICTION_ACCURACY.asset_key, DagsterEventType.ASSET_MATERIALIZATION, {d.isoformat() for d in days})
    if not latest:
        return {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=PREDICTION_ACCURACY.asset_key, storage_ids=list(latest.values())),
        limit=len(latest)).records
    return {dt.date.fromisoformat(r.partition_key): r for r in records}

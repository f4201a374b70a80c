"""Slack alerting sensors. Each takes the ``slack_alerts`` resource (:class:`SlackAlerts`).

* ``grading_run_failure_sensor``: every failed run of this code location, exactly once: the
  ``grade_game_date`` job and asset materializations launched from the UI or the daemon, and runs
  executed in-process (``grading-pipeline grade``, ``dagster asset materialize``), which record no
  code location (see :func:`in_this_code_location`). Job, partition or range, failing steps, root
  error, run link, retry attempt. "Lock acquisition failed" (with investigation steps) when the
  root error is a LockTimeoutError / LockBackendUnavailableError.
* ``failed_check_sensor``: every FAILED asset check evaluation (WARN and ERROR), exactly once.
  Open-source Dagster has no alert for a failed check, and a non-blocking failed check leaves the
  run green (a run-failure sensor never sees it). The duplicate checks give the
  "Grading Duplicate Alert".
* ``unlocked_write_sensor``: one alert per (run, asset) that wrote dates WITHOUT their partition lock
  (``lock_held: false`` in a date's materialization metadata), with the dates and reasons.
* ``stat_correction_sensor``: one message per run whose re-grades changed grades (a stat
  correction): dates, grades flipped, each system's win rate before and after.

All four are cursor sensors (:func:`alert_finished_runs`): they walk the runs that finished, in the
order they finished (the run-failure sensor only the failed ones; the other two success, failure and
canceled), and read each run's own events. Not a cursor over check evaluations: on the default
SQLite storage (``dagster dev``, DAGSTER_HOME) the event log is sharded by run, and
``get_event_records(EventRecordsFilter(ASSET_CHECK_EVALUATION, after_cursor=<int>))`` raises
("Called `get_event_records` on a run-sharded event log storage with a cursor that is not
run-aware"); run status events are in the cross-run index of every storage. So an alert comes
when its run has ended (within a sensor interval).

Delivery guarantee: the cursor only moves past an alert once it was delivered. A failed delivery
with nothing delivered before it in the tick raises, so the tick shows as FAILED with the error and
keeps its old cursor (Dagster does not store the cursor of a failed tick); after some deliveries
the tick ends SKIPPED with the error in its message and the cursor just before the unsent alert.
Either way the alert is retried next tick. (This is why run failures are not alerted by a Dagster
``@run_failure_sensor``: Dagster moves its cursor past a run even when the sensor function raised,
so an alert that still failed after the Slack client's retries was lost; and with
``monitor_all_code_locations=False`` it never sees in-process runs.)

On its first tick (no cursor) a sensor starts at the runs that finished in the last
``INITIAL_LOOKBACK``, so turning the sensor on does not replay old history.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dagster import (
    AssetKey,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DefaultSensorStatus,
    RunStatusChangeRecordsFilter,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from grading_pipeline.alerts.messages import (
    Alert,
    GradeChanges,
    StepFailure,
    UnlockedWrite,
    check_failure_alert,
    compact_dates,
    error_chain,
    metadata_value,
    run_failure_alert,
    run_url,
    stat_correction_alert,
    unlocked_write_alert,
)
from grading_pipeline.alerts.slack import SlackAlerts
from grading_pipeline.tables import GRADED_TABLES, PREDICTION_ACCURACY

GRADED_ASSETS: tuple[AssetKey, ...] = tuple(table.asset_key for table in GRADED_TABLES)
FINISHED_RUN_EVENTS = (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE, DagsterEventType.RUN_CANCELED)
SENSOR_INTERVAL_SECONDS = 30
INITIAL_LOOKBACK = dt.timedelta(hours=24)
PAGE_SIZE = 100
MAX_ALERTS_PER_TICK = 20
MAX_ITEMS_PER_TICK = 2_000
TICK_BUDGET_SECONDS = 30.0  # Dagster gives a sensor evaluation 60 s


# ------------------------------------------------------------------------------------------------
# Delivering alerts under a cursor
# ------------------------------------------------------------------------------------------------


def _deliver(
    context: SensorEvaluationContext,
    slack: SlackAlerts,
    feed: Iterator[tuple[str, Alert | None]],
    cursor: str,
    what: str,
) -> SensorResult:
    """Send the feed's alerts in order. ``feed`` yields (cursor once this item is handled, alert or
    None). The returned cursor never passes an undelivered alert."""
    sent = 0
    seen = 0
    started = time.monotonic()
    for next_cursor, alert in feed:
        seen += 1
        if alert is not None:
            if sent >= MAX_ALERTS_PER_TICK or time.monotonic() - started > TICK_BUDGET_SECONDS:
                return SensorResult(cursor=cursor, skip_reason=f"Sent {sent} {what} alert(s); more on the next tick.")
            try:
                slack.send(alert, log=context.log)
            except Exception as exc:
                if sent == 0:
                    raise  # the tick FAILS with the error; Dagster keeps the previous cursor
                return SensorResult(
                    cursor=cursor,
                    skip_reason=f"Sent {sent} {what} alert(s), then delivery FAILED: {exc}. "
                    "The unsent alert is retried on the next tick.",
                )
            sent += 1
        cursor = next_cursor
        if seen >= MAX_ITEMS_PER_TICK:
            break
    return SensorResult(cursor=cursor, skip_reason=f"Sent {sent} {what} alert(s)." if sent else f"No new {what}.")


def _safely(build: Callable[[], Alert], fallback_title: str, run_id: str, webserver_base_url: str) -> Alert:
    """An alert that cannot be formatted must neither be lost nor block the sensor."""
    try:
        return build()
    except Exception as exc:  # a formatting bug: deliver the essentials
        return Alert(
            title=fallback_title,
            summary=f"(The full alert could not be formatted: {type(exc).__name__}: {exc})",
            fields=(("Run", run_id),),
            links=(("View run in Dagster", run_url(webserver_base_url, run_id)),),
        )


def _run_tags(instance: DagsterInstance, run_id: str) -> tuple[dict[str, str], str | None]:
    run = instance.get_run_by_id(run_id)
    return (dict(run.tags), run.job_name) if run is not None else ({}, None)


def _records_for_run(instance: DagsterInstance, run_id: str, event_type: DagsterEventType) -> list[Any]:
    """A run's events of one type, in order (works on every event log storage, run-sharded too)."""
    records: list[Any] = []
    cursor = None
    while True:
        connection = instance.get_records_for_run(run_id, cursor=cursor, of_type=event_type)
        records.extend(connection.records)
        if not connection.has_more or connection.cursor == cursor:
            return records
        cursor = connection.cursor


# ------------------------------------------------------------------------------------------------
# The feed of finished runs
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunCursor:
    """Position in the feed of finished runs: every run whose terminal event has a storage id
    <= ``after_storage_id`` is handled, and so are the first ``sent_of_next`` alerts of the next one."""

    after_storage_id: int
    sent_of_next: int = 0

    def to_json(self) -> str:
        return json.dumps({"after_storage_id": self.after_storage_id, "sent_of_next": self.sent_of_next})

    @classmethod
    def from_json(cls, text: str) -> "RunCursor":
        data = json.loads(text)
        return cls(int(data["after_storage_id"]), int(data.get("sent_of_next", 0)))

    @classmethod
    def initial(
        cls, instance: DagsterInstance, event_types: Sequence[DagsterEventType] = FINISHED_RUN_EVENTS
    ) -> "RunCursor":
        """Just before the first run that finished (with one of ``event_types``) within
        INITIAL_LOOKBACK, else after the last such run."""
        since = time.time() - INITIAL_LOOKBACK.total_seconds()
        recent = [
            instance.fetch_run_status_changes(
                RunStatusChangeRecordsFilter(event_type=t, after_timestamp=since), limit=1, ascending=True
            ).records
            for t in event_types
        ]
        if any(recent):
            return cls(min(r[0].storage_id for r in recent if r) - 1)
        last = [instance.fetch_run_status_changes(t, limit=1, ascending=False).records for t in event_types]
        return cls(max((r[0].storage_id for r in last if r), default=0))


def finished_runs(
    instance: DagsterInstance, after_storage_id: int, event_types: Sequence[DagsterEventType] = FINISHED_RUN_EVENTS
) -> Iterator[tuple[int, str]]:
    """(storage id of the terminal event, run id) of every run that finished (by default: success,
    failure or canceled; else with one of ``event_types``) after ``after_storage_id``, in storage-id
    order. Run status events live in the cross-run index of every event log storage (unlike check
    evaluations on the default run-sharded SQLite storage), so the storage ids are comparable."""
    after = after_storage_id
    while True:
        pages = [
            instance.fetch_run_status_changes(
                RunStatusChangeRecordsFilter(event_type=t, after_storage_id=after), limit=PAGE_SIZE, ascending=True
            ).records
            for t in event_types
        ]
        full = [page for page in pages if len(page) == PAGE_SIZE]
        cap = min(page[-1].storage_id for page in full) if full else None  # beyond it a page may miss events
        merged = sorted((r for page in pages for r in page), key=lambda r: r.storage_id)
        for record in merged:
            if cap is not None and record.storage_id > cap:
                break
            yield record.storage_id, record.run_id
            after = record.storage_id
        if not full:
            return


def _run_alert_feed(
    instance: DagsterInstance,
    cursor: RunCursor,
    alerts_of_run: Callable[[str], list[Alert]],
    event_types: Sequence[DagsterEventType] = FINISHED_RUN_EVENTS,
) -> Iterator[tuple[str, Alert | None]]:
    skip = cursor.sent_of_next
    position = cursor.after_storage_id
    for storage_id, run_id in finished_runs(instance, position, event_types):
        for i, alert in enumerate(alerts_of_run(run_id)):
            if i >= skip:
                yield RunCursor(position, i + 1).to_json(), alert
        skip = 0
        position = storage_id
        yield RunCursor(position).to_json(), None


def alert_finished_runs(
    context: SensorEvaluationContext,
    slack: SlackAlerts,
    alerts_of_run: Callable[[str], list[Alert]],
    what: str,
    event_types: Sequence[DagsterEventType] = FINISHED_RUN_EVENTS,
) -> SensorResult:
    """One tick of a cursor sensor: walk the runs that finished (with one of ``event_types``) since
    the cursor (on the first tick: since INITIAL_LOOKBACK), send ``alerts_of_run(run_id)`` of each in
    order, and return the cursor just past the last alert delivered (see :func:`_deliver`)."""
    if context.cursor:
        cursor = RunCursor.from_json(context.cursor)
    else:
        cursor = RunCursor.initial(context.instance, event_types)
    feed = _run_alert_feed(context.instance, cursor, alerts_of_run, event_types)
    return _deliver(context, slack, feed, cursor.to_json(), what)


# ------------------------------------------------------------------------------------------------
# Run failures
# ------------------------------------------------------------------------------------------------


RUN_FAILURE_EVENTS = (DagsterEventType.RUN_FAILURE,)


def in_this_code_location(run: DagsterRun, location_name: str | None, repository_name: str | None) -> bool:
    """A run launched through a code location (UI, daemon: schedules, backfills, run retries)
    records it: it must be this one (the rule of Dagster's run-status sensors with
    ``monitor_all_code_locations=False``). A run executed in-process (``grading-pipeline grade``,
    ``dagster asset materialize``, ``execute_in_process``) records none: it ran this project's code
    on this project's instance, so it is ours (Dagster's run-status sensors skip it)."""
    origin = run.remote_job_origin
    if origin is None:
        return True
    repository = origin.repository_origin
    return (
        repository.code_location_origin.location_name == location_name
        and repository.repository_name == repository_name
    )


def run_failure_alert_for(instance: DagsterInstance, run: DagsterRun, webserver_base_url: str) -> Alert:
    """The alert of a failed run, from its STEP_FAILURE events and its RUN_FAILURE event."""
    step_failures = _records_for_run(instance, run.run_id, DagsterEventType.STEP_FAILURE)
    failures = [
        StepFailure(event.step_key or "(unknown step)", error_chain(event.step_failure_data.error))
        for event in (record.event_log_entry.dagster_event for record in step_failures)
    ]
    run_failures = _records_for_run(instance, run.run_id, DagsterEventType.RUN_FAILURE)
    failure_event = run_failures[-1].event_log_entry.dagster_event if run_failures else None
    run_error = getattr(failure_event.event_specific_data, "error", None) if failure_event else None
    if not failures and run_error is not None:
        failures = [StepFailure("(run)", error_chain(run_error))]
    return run_failure_alert(
        run_id=run.run_id,
        job_name=run.job_name,
        tags=run.tags,
        failures=failures,
        run_message=failure_event.message if failure_event else None,
        webserver_base_url=webserver_base_url,
    )


def run_failure_alerts(
    instance: DagsterInstance,
    run_id: str,
    webserver_base_url: str,
    location_name: str | None = None,
    repository_name: str | None = None,
) -> list[Alert]:
    """The alert of a failed run of this code location (none for another location's run)."""
    run = instance.get_run_by_id(run_id)
    if run is None or not in_this_code_location(run, location_name, repository_name):
        return []
    return [_safely(
        lambda: run_failure_alert_for(instance, run, webserver_base_url),
        f"Grading run failed: {run.job_name}",
        run_id,
        webserver_base_url,
    )]


@sensor(
    name="grading_run_failure_sensor",
    description="Slack alert for every failed run of this code location (grade_game_date and asset runs, "
    "in-process runs too), exactly once; 'Lock acquisition failed' when a partition lock could not be taken.",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
)
def grading_run_failure_sensor(context: SensorEvaluationContext, slack_alerts: SlackAlerts) -> SensorResult:
    location = context.code_location_origin.location_name if context.code_location_origin else None
    return alert_finished_runs(
        context,
        slack_alerts,
        lambda run_id: run_failure_alerts(
            context.instance, run_id, slack_alerts.webserver_base_url, location, context.repository_name
        ),
        "run failure",
        RUN_FAILURE_EVENTS,
    )


# ------------------------------------------------------------------------------------------------
# Failed asset checks
# ------------------------------------------------------------------------------------------------


def failed_check_alerts(instance: DagsterInstance, run_id: str, webserver_base_url: str) -> list[Alert]:
    """One alert per failed check of a run (WARN and ERROR), in the order first evaluated. A check
    that failed on several dates of a range run (one evaluation per date) is one alert naming the
    dates, with their figures together."""
    groups: dict[tuple, list[Any]] = {}
    for record in _records_for_run(instance, run_id, DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.event_log_entry.dagster_event.asset_check_evaluation_data
        if not evaluation.passed:
            severity = getattr(evaluation.severity, "value", str(evaluation.severity))
            groups.setdefault((tuple(evaluation.asset_key.path), evaluation.check_name, severity), []).append(evaluation)
    if not groups:
        return []
    tags, _ = _run_tags(instance, run_id)
    alerts = []
    for (asset_path, check_name, severity), evaluations in groups.items():
        first = evaluations[0]
        partitions = [e.partition for e in evaluations if e.partition]
        metadata = first.metadata if len(evaluations) == 1 else merged_check_metadata(evaluations)
        alerts.append(_safely(
            lambda: check_failure_alert(
                asset_path=asset_path,
                check_name=check_name,
                severity=severity,
                partition=compact_dates(partitions) if partitions else None,
                blocking=first.blocking,
                description=first.description if len(evaluations) == 1 else f"failed on {len(evaluations)} dates",
                metadata=metadata,
                run_id=run_id,
                run_tags=tags,
                webserver_base_url=webserver_base_url,
            ),
            f"Grading check failed ({severity}): {check_name}",
            run_id,
            webserver_base_url,
        ))
    return alerts


def merged_check_metadata(evaluations: Sequence[Any]) -> dict[str, Any]:
    """The figures of one check's failed evaluations on several dates, as one alert shows them:
    the dates, counts summed, a count per date, and the first sample keys of each."""
    dates = [e.partition for e in evaluations if e.partition]
    merged: dict[str, Any] = {"game_date": compact_dates(dates)}
    for name in ("duplicate_keys", "extra_rows"):
        values = [metadata_value(e.metadata.get(name)) for e in evaluations]
        if any(isinstance(v, (int, float)) for v in values):
            merged[name] = sum(v for v in values if isinstance(v, (int, float)))
            if name == "duplicate_keys":
                merged["per_date"] = {e.partition: v for e, v in zip(evaluations, values)}
    samples: list[Any] = []
    for evaluation in evaluations:
        sample = metadata_value(evaluation.metadata.get("sample_keys"))
        if isinstance(sample, str):
            sample = json.loads(sample)
        samples.extend((sample or [])[:3])
    if samples:
        merged["sample_keys"] = samples[:20]
    published = {metadata_value(e.metadata.get("published")) for e in evaluations}
    if published == {False}:
        merged["published"] = False
    merged["per_date_description"] = {e.partition: e.description for e in evaluations}
    return merged


@sensor(
    name="failed_check_sensor",
    description="Slack alert for every failed asset check evaluation (WARN and ERROR), exactly once, when "
    "its run ends; 'Grading Duplicate Alert' for the duplicate checks.",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
)
def failed_check_sensor(context: SensorEvaluationContext, slack_alerts: SlackAlerts) -> SensorResult:
    return alert_finished_runs(
        context, slack_alerts, lambda run_id: failed_check_alerts(context.instance, run_id, slack_alerts.webserver_base_url), "failed check"
    )


# ------------------------------------------------------------------------------------------------
# Writes without the lock
# ------------------------------------------------------------------------------------------------


def unlocked_writes(instance: DagsterInstance, run_id: str) -> list[UnlockedWrite]:
    """Per graded asset, the dates a run wrote without their lock: every materialization carries its
    own date's ``lock_held`` / ``lock_unlocked_reason`` (a range run's too: each partition's
    metadata is its own date's)."""
    writes = {key: UnlockedWrite(run_id=run_id, asset_path=tuple(key.path)) for key in GRADED_ASSETS}
    for record in _records_for_run(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION):
        key = record.asset_key
        if key not in writes:
            continue
        metadata = record.asset_materialization.metadata
        if _is_false(metadata_value(metadata.get("lock_held"))):
            writes[key].add(record.partition_key, _text(metadata_value(metadata.get("lock_unlocked_reason"))))
    return [write for write in writes.values() if write.reasons]


def _is_false(value: Any) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def unlocked_write_alerts(instance: DagsterInstance, run_id: str, webserver_base_url: str) -> list[Alert]:
    writes = unlocked_writes(instance, run_id)
    if not writes:
        return []
    tags, job_name = _run_tags(instance, run_id)
    return [
        _safely(
            lambda: unlocked_write_alert(write, run_tags=tags, job_name=job_name, webserver_base_url=webserver_base_url),
            f"Written WITHOUT the partition lock: {write.asset_path[-1]}",
            run_id,
            webserver_base_url,
        )
        for write in writes
    ]


@sensor(
    name="unlocked_write_sensor",
    description="Slack alert when a run wrote dates of prediction_accuracy / system_daily_performance "
    "without their partition lock (lock_held: false), one per run and asset, when the run ends.",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
)
def unlocked_write_sensor(context: SensorEvaluationContext, slack_alerts: SlackAlerts) -> SensorResult:
    return alert_finished_runs(
        context, slack_alerts, lambda run_id: unlocked_write_alerts(context.instance, run_id, slack_alerts.webserver_base_url), "unlocked write"
    )


# ------------------------------------------------------------------------------------------------
# Re-grades that changed grades (stat corrections)
# ------------------------------------------------------------------------------------------------


def grade_changes_of_run(instance: DagsterInstance, run_id: str) -> list[GradeChanges]:
    """The dates a run re-graded whose grades changed: each date's own `grades_changed` and
    `grade_changes` (prediction_accuracy's materialization metadata, grading.py)."""
    changes = []
    for record in _records_for_run(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION):
        if record.asset_key != PREDICTION_ACCURACY.asset_key:
            continue
        metadata = record.asset_materialization.metadata
        changed = metadata_value(metadata.get("grades_changed"))
        if isinstance(changed, (int, float)) and changed > 0:
            changes.append(GradeChanges(record.partition_key or "(unpartitioned)", int(changed),
                                        _text(metadata_value(metadata.get("grade_changes"))) or ""))
    return changes


def stat_correction_alerts(instance: DagsterInstance, run_id: str, webserver_base_url: str) -> list[Alert]:
    changes = grade_changes_of_run(instance, run_id)
    if not changes:
        return []
    return [_safely(lambda: stat_correction_alert(run_id, changes, webserver_base_url=webserver_base_url),
                    "stat correction: grades changed", run_id, webserver_base_url)]


@sensor(
    name="stat_correction_sensor",
    description="One Slack message per run that re-graded dates and changed grades (a stat correction): the "
    "dates, how many grades flipped, and each system's win rate before and after, when the run ends.",
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
)
def stat_correction_sensor(context: SensorEvaluationContext, slack_alerts: SlackAlerts) -> SensorResult:
    return alert_finished_runs(
        context, slack_alerts, lambda run_id: stat_correction_alerts(context.instance, run_id, slack_alerts.webserver_base_url),
        "stat correction"
    )


all_sensors = [grading_run_failure_sensor, failed_check_sensor, unlocked_write_sensor, stat_correction_sensor]

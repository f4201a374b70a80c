"""What both of the project's event logs (event_log.py locally, postgres_storages.py in production)
change in Dagster's SQL event log storage, mixed in before Dagster's class."""

from __future__ import annotations

import atexit
import threading
import weakref
from collections.abc import Sequence

import sqlalchemy as db
from dagster._core.errors import DagsterInvariantViolationError
from dagster._core.events import DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._serdes import serialize_value
from sqlalchemy.engine import Connection

PENDING_CHECK_EVALUATIONS = 500  # held back at most, then stored as one batch


class TablesKnownOnce:
    """Dagster asks whether a table exists before many queries (for every check event, through
    `supports_asset_checks`), each time asking the database. A table, once there, stays (Dagster's
    migrations only add), so a table found is not asked about again."""

    def has_table(self, table_name: str) -> bool:
        known: set[str] = self.__dict__.setdefault("_known_tables", set())
        if table_name not in known:
            if not super().has_table(table_name):
                return False
            known.add(table_name)
        return True


class PlannedCheckRowsSerializedOnce:
    """Dagster's `_store_asset_check_evaluation_planned` writes one row per partition of the run and
    serializes the planned event again for each (180 times per check for a season, each copy holding
    the 180 partition keys): the same rows, the event serialized once."""

    def _store_asset_check_evaluation_planned(self, event: EventLogEntry, event_id: int | None) -> None:
        planned = event.get_dagster_event().event_specific_data
        partition_keys = planned.partitions_subset.get_partition_keys() if planned.partitions_subset else [None]
        row = dict(
            asset_key=planned.asset_key.to_string(),
            check_name=planned.check_name,
            run_id=event.run_id,
            execution_status=AssetCheckExecutionRecordStatus.PLANNED.value,
            evaluation_event=serialize_value(event),
            evaluation_event_timestamp=self._event_insert_timestamp(event),
            evaluation_event_storage_id=event_id,
        )
        with self.index_connection() as conn:
            conn.execute(AssetCheckExecutionsTable.insert().values([{**row, "partition": key} for key in partition_keys]))


class CheckEvaluationsHeldBack:
    """A run's check evaluations are held back until the next other event of the process, any use
    of the storage (each storage calls `flush_check_evaluations` before its reads and writes), 500
    of them, or the process's exit, and are then stored as one batch: a step that records one
    evaluation per check and date (1,620 in a season) writes them in a few transactions, in order,
    instead of a few statements each. Dagster's own batching holds a step's materializations the
    same way. Each storage says how a batch is stored (`_store_check_evaluations`), and how one
    event is, should the batch fail (`_store_one_by_one`)."""

    def _hold_back_check_evaluations(self) -> None:  # from the storage's __init__
        self._pending: list[EventLogEntry] = []
        self._pending_lock = threading.RLock()
        atexit.register(_flush_at_exit, weakref.ref(self))

    def _held_back(self, event: EventLogEntry) -> bool:
        """True if `event` is held back (stored later, with the others)."""
        if not is_run_check_evaluation(event):
            return False
        with self._pending_lock:
            self._pending.append(event)
            if len(self._pending) < PENDING_CHECK_EVALUATIONS:
                return True
        self.flush_check_evaluations()
        return True

    def flush_check_evaluations(self) -> None:
        """Store the check evaluations held back, as one batch (one by one should it fail). Waits
        for another thread's flush in progress, so that what it reads next includes them."""
        with self._pending_lock:
            events, self._pending = self._pending, []
            if not events:
                return
            try:
                self._store_check_evaluations(events)
            except Exception:  # as Dagster does with a failed batch: one by one (an error now raises)
                self._store_one_by_one(events)

    def _store_check_evaluations(self, events: Sequence[EventLogEntry]) -> None:
        raise NotImplementedError

    def _store_one_by_one(self, events: Sequence[EventLogEntry]) -> None:
        raise NotImplementedError

    def _store_run_check_evaluations(self, conn: Connection, evaluations: list[tuple[EventLogEntry, int, str]]) -> None:
        """Dagster's `_update_asset_check_evaluation` for many (event, its storage id, its
        serialization): each evaluation onto its planned row (asset key, check, run, partition), or
        a new row where none was planned; a key planned twice is Dagster's invariant violation,
        raised as there."""
        if not evaluations:
            return
        table = AssetCheckExecutionsTable
        planned: dict[tuple, int] = {}
        for asset_key, check_name, run_id in {_check_row_key(event)[:3] for event, _, _ in evaluations}:
            counts = conn.execute(
                db.select(table.c.partition, db.func.count()).where(
                    table.c.asset_key == asset_key, table.c.check_name == check_name, table.c.run_id == run_id,
                ).group_by(table.c.partition))
            planned.update({(asset_key, check_name, run_id, partition): count for partition, count in counts})
        updates: list[dict] = []
        inserts: dict[tuple, dict] = {}  # unplanned: an insert, then updates of it (so its last values)
        for event, event_id, serialized in evaluations:
            key = _check_row_key(event)
            evaluation = event.get_dagster_event().event_specific_data
            values = dict(
                execution_status=(AssetCheckExecutionRecordStatus.SUCCEEDED.value if evaluation.passed
                                  else AssetCheckExecutionRecordStatus.FAILED.value),
                evaluation_event=serialized,
                evaluation_event_timestamp=self._event_insert_timestamp(event),
                evaluation_event_storage_id=event_id,
                materialization_event_storage_id=(evaluation.target_materialization_data.storage_id
                                                  if evaluation.target_materialization_data else None),
            )
            if planned.get(key, 0) > 1:
                raise DagsterInvariantViolationError(
                    f"Updated {planned[key]} rows for asset check evaluation {evaluation.asset_check_key} "
                    "as a result of duplicate AssetCheckPlanned events.")
            if key in planned:
                updates.append({**{f"k_{c}": v for c, v in zip(CHECK_ROW_KEY, key)}, **{f"v_{c}": v for c, v in values.items()}})
            else:
                inserts[key] = {**dict(zip(CHECK_ROW_KEY, key)), **values}
        for with_partition in (True, False):
            some = [u for u in updates if (u["k_partition"] is not None) == with_partition]
            if some:
                columns = [name[2:] for name in some[0] if name.startswith("v_")]
                conn.execute(_update_planned_check_rows(with_partition, columns), some)
        if inserts:
            conn.execute(table.insert(), list(inserts.values()))


def is_run_check_evaluation(event: EventLogEntry) -> bool:
    return bool(event.run_id) and event.dagster_event_type == DagsterEventType.ASSET_CHECK_EVALUATION


def _flush_at_exit(storage: weakref.ref) -> None:
    alive = storage()
    if alive is not None:
        alive.flush_check_evaluations()


CHECK_ROW_KEY = ("asset_key", "check_name", "run_id", "partition")  # a planned check row, as Dagster finds it


def _check_row_key(event: EventLogEntry) -> tuple:
    evaluation = event.get_dagster_event().event_specific_data
    return (evaluation.asset_key.to_string(), evaluation.check_name, event.run_id, evaluation.partition)


def _update_planned_check_rows(with_partition: bool, columns: list[str]):
    table = AssetCheckExecutionsTable
    partition = table.c.partition == db.bindparam("k_partition") if with_partition else table.c.partition.is_(None)
    return table.update().where(
        table.c.asset_key == db.bindparam("k_asset_key"), table.c.check_name == db.bindparam("k_check_name"),
        table.c.run_id == db.bindparam("k_run_id"), partition,
    ).values(**{column: db.bindparam(f"v_{column}") for column in columns})

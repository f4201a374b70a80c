"""The local Dagster instance's event log: Dagster's own SQLite event log storage, made cheap per
event. Selected in dagster.yaml (`event_log_storage:`, Dagster's documented extension point).

Dagster's `SqliteEventLogStorage` creates a new engine and opens a new SQLite connection for
every statement it runs (several per event), commits each with an fsync, and writes a batch of
events one event at a time. A season graded as one run records ~2,700 events, so that, not the
grading, was most of the run's time. This storage keeps Dagster's files, schema and queries and
changes only how it connects and how a batch is written:

* one engine per shard, its connections pooled and reused (run shards beyond the newest few are
  closed again, so a long-lived webserver keeps few files open);
* `PRAGMA synchronous=NORMAL` on the WAL journal Dagster already uses: a commit no longer waits
  for an fsync. A crash of the process loses nothing; a power cut may lose the last events, never
  corrupt the file. This is the local instance: production runs on PostgreSQL;
* a batch (Dagster batches a run's planned events and a step's partitioned materializations when
  `DAGSTER_EVENT_BATCH_SIZE` is set, which this storage sets unless the environment does) is
  written in one transaction per shard, in a few statements for the whole batch rather than
  several per event (Dagster's PostgreSQL storage batches materializations the same way; the rows
  are the ones Dagster's SQLite storage writes event by event, which a test compares table by
  table); should it fail, Dagster stores its events one by one;
* a run's check evaluations are held back until the next other event of the process, any read of
  this storage, 500 of them, or the process's exit, and stored as one batch: a step that records
  one evaluation per check and date (1,620 in a season) then writes them in a few transactions,
  in order (event_log_mixins.py, shared with the production storage);
* a new run's shard is a copy of a template Dagster made once, and a shard already stamped by
  alembic is not inspected again (sqlite_files.py): ~90 ms of every launched run;
* after each write to a run's shard, the shard file is touched: the webserver follows a live run
  by watching that file, which a pooled connection no longer checkpoints into on every close.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

import sqlalchemy as db
from dagster import Field, StringSource
from dagster._config.config_schema import UserConfigSchema
from dagster._core.events import ASSET_CHECK_EVENTS, ASSET_EVENTS, EVENT_TYPE_TO_PIPELINE_RUN_STATUS, DagsterEventType
from dagster._core.events.log import EventLogEntry
from dagster._core.instance.ref import _event_logs_directory  # where Dagster's own SQLite event log lives
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS
from dagster._serdes import ConfigurableClassData
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from grading_pipeline import settings, sqlite_files
from grading_pipeline.event_log_mixins import (
    CheckEvaluationsHeldBack,
    PlannedCheckRowsSerializedOnce,
    TablesKnownOnce,
    is_run_check_evaluation,
)

OPEN_RUN_SHARDS = 8  # run shards kept open besides the index shard


class FastSqliteEventLogStorage(CheckEvaluationsHeldBack, TablesKnownOnce, PlannedCheckRowsSerializedOnce,
                                SqliteEventLogStorage):
    """`SqliteEventLogStorage` with pooled connections, no fsync per commit and one transaction
    per batch (see the module's docstring). Same files: an instance can switch back and forth."""

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._batch = threading.local()  # the open transactions of this thread's store_event_batch
        self._known_tables: set[str] = set()  # TablesKnownOnce's, forgotten with the engines
        self._hold_back_check_evaluations()
        settings.batch_dagster_events()
        self._inst_data = inst_data
        self._opened = False
        if base_dir is not None:
            self._open(base_dir)

    def _open(self, base_dir: str) -> None:
        index = os.path.join(base_dir, f"{INDEX_SHARD_NAME}.db")
        with contextlib.suppress(OSError):  # where it cannot, Dagster's __init__ makes it in place
            os.makedirs(base_dir, exist_ok=True)
            sqlite_files.made_whole(index, lambda folder: SqliteEventLogStorage(folder).dispose())
        super().__init__(base_dir, self._inst_data)
        self._opened = True

    def register_instance(self, instance) -> None:
        # Without a base_dir of its own, the storage lives where Dagster keeps its SQLite event log
        # in the instance's folder (DAGSTER_HOME, or the CLI's temporary instance): known only now,
        # as the instance registers it, before any use.
        if not self._opened:
            self._open(_event_logs_directory(instance.root_directory))
        super().register_instance(instance)

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(  # ty: ignore[invalid-method-override]
        cls, inst_data: ConfigurableClassData | None, config_value: dict
    ) -> FastSqliteEventLogStorage:
        return cls(config_value.get("base_dir"), inst_data=inst_data)

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is not None:
                self._engines.move_to_end(shard)
                return engine
            # One connection kept; more while threads need them at once, never waited for (as with
            # Dagster's engine per statement), closed when given back.
            engine = create_engine(
                self.conn_string_for_shard(shard),
                poolclass=QueuePool, pool_size=1, max_overflow=-1,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
            )
            db.event.listen(engine, "connect", sqlite_files.no_fsync_per_commit)
            if shard not in self._initialized_dbs:
                self._initialize(shard, engine)
                self._initialized_dbs.add(shard)
            self._engines[shard] = engine
            run_shards = [s for s in self._engines if s != INDEX_SHARD_NAME]
            for old in run_shards[:-OPEN_RUN_SHARDS]:
                self._engines.pop(old).dispose()
            return engine

    def _initialize(self, shard: str, engine: Engine) -> None:
        """What Dagster's `_initdb` leaves, without its cost when it can (sqlite_files.py)."""
        path = self.path_for_shard(shard)
        if shard != INDEX_SHARD_NAME and not os.path.exists(path):
            try:
                template = sqlite_files.ensure_template(self._base_dir, self._initdb)
                if sqlite_files.create_from_template(template, path):
                    return
            except OSError:  # e.g. a read-only folder: Dagster's way, which says what is wrong
                pass
        if not sqlite_files.stamped(path):
            self._initdb(engine)

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        batch: ExitStack | None = getattr(self._batch, "stack", None)
        if batch is not None:  # inside store_event_batch: one transaction per shard, committed at its end
            connections = self._batch.connections
            if shard not in connections:
                conn = batch.enter_context(self._engine(shard).connect())
                batch.enter_context(conn.begin())
                connections[shard] = conn
            yield connections[shard]
            return
        self.flush_check_evaluations()  # whatever reads or writes next sees them
        with self._engine(shard).connect() as conn, conn.begin():
            yield conn

    def store_event(self, event: EventLogEntry) -> None:
        if getattr(self._batch, "stack", None) is not None:  # part of a batch: written at its end
            super().store_event(event)
            return
        if self._held_back(event):
            return
        self.flush_check_evaluations()  # stored in order: the evaluations held back first
        super().store_event(event)
        self._signal_watchers(event.run_id)

    def _store_check_evaluations(self, events: Sequence[EventLogEntry]) -> None:
        self.store_event_batch(events)

    def _store_one_by_one(self, events: Sequence[EventLogEntry]) -> None:
        for event in events:
            super().store_event(event)
            self._signal_watchers(event.run_id)

    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        self.flush_check_evaluations()
        with ExitStack() as stack:
            self._batch.stack, self._batch.connections = stack, {}
            try:
                self._store_in_bulk(events)
            finally:
                self._batch.stack = self._batch.connections = None
        for run_id in {event.run_id for event in events}:
            self._signal_watchers(run_id)

    def _store_in_bulk(self, events: Sequence[EventLogEntry]) -> None:
        """What `SqliteEventLogStorage.store_event` writes for each event, in a few statements
        for the whole batch: the events into their run shards and (asset, check and run status
        events) into the index shard, one executemany each; the asset tags in one; the asset key
        row once per asset key and kind of event (its last: each kind sets the same columns, so the
        last one is what the event-by-event writes leave), as Dagster's PostgreSQL storage does; the
        run's check evaluations onto their planned rows in one executemany, reusing the event's
        serialization. A test compares every table with Dagster's own storage's."""
        rows = [self._event_to_row(event) for event in events]
        for run_id in dict.fromkeys(row["run_id"] for row in rows):
            with self.run_connection(run_id) as conn:
                conn.execute(SqlEventLogStorageTable.insert(), [row for row in rows if row["run_id"] == run_id])
        mirrored = [(event, row) for event, row in zip(events, rows) if _mirrored_in_index(event)]
        if not mirrored:
            return
        with self.index_connection() as conn:
            inserted = conn.execute(
                SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True),
                [row for _, row in mirrored])
            event_ids = [row_id for (row_id,) in inserted]
            asset_events = [(event, event_id) for (event, _), event_id in zip(mirrored, event_ids)
                            if event.dagster_event_type in ASSET_EVENTS]
            self._store_asset_event_tags(conn, [event for event, _ in asset_events], [i for _, i in asset_events])
            last_of_kind = {(_asset_key(event), event.dagster_event_type): n for n, (event, _) in enumerate(asset_events)}
            for n in sorted(last_of_kind.values()):
                self._store_asset_event(conn, *asset_events[n])
            evaluations = []
            for (event, row), event_id in zip(mirrored, event_ids):
                if is_run_check_evaluation(event):
                    evaluations.append((event, event_id, row["event"]))
                elif event.dagster_event_type in ASSET_CHECK_EVENTS:
                    self.store_asset_check_event(event, event_id)
            self._store_run_check_evaluations(conn, evaluations)

    def _signal_watchers(self, run_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.path_for_shard(run_id))

    def upgrade(self) -> None:
        self._dispose_engines()
        super().upgrade()

    def wipe(self) -> None:
        self._dispose_engines()
        super().wipe()

    def dispose(self) -> None:
        self.flush_check_evaluations()
        self._dispose_engines()
        super().dispose()

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
            self._known_tables.clear()


def _mirrored_in_index(event: EventLogEntry) -> bool:
    # As SqliteEventLogStorage.store_event: asset and check events, and run status changes.
    kind = event.dagster_event_type
    return event.is_dagster_event and (
        kind in ASSET_EVENTS or kind in ASSET_CHECK_EVENTS or kind in EVENT_TYPE_TO_PIPELINE_RUN_STATUS)


def _asset_key(event: EventLogEntry) -> str | None:
    key = event.get_dagster_event().asset_key
    return key.to_string() if key else None

"""The local instance's run and schedule storage: Dagster's SQLite storages (same files, schema and
queries), opened cheaply. Selected in dagster.yaml (`run_storage:`, `schedule_storage:`), beside the
event log of event_log.py.

Every Dagster process (each launched run, the webserver, the daemon) opens both. Dagster's
`from_local` loads alembic's migration scripts to compare the file's revision with the head (~25 ms
each), and both storages then open a new engine and connection for every statement. Here:

* a file alembic has stamped (what `from_local` leaves; upgrades are `dagster instance migrate`'s)
  is opened as it is, without alembic; a file missing or not stamped goes through Dagster's
  `from_local`, which creates, stamps and migrates it;
* one engine per storage, its connections pooled, `synchronous=NORMAL` on Dagster's WAL journal,
  as the event log does (a crash loses nothing; a power cut may lose the last commits).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dagster import Field, StringSource
from dagster._config.config_schema import UserConfigSchema
from dagster._core.instance.ref import _runs_directory, _schedule_directory  # where Dagster keeps them
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import create_db_conn_string
from dagster._serdes import ConfigurableClassData
from dagster._utils import mkdir_p
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from grading_pipeline import sqlite_files


class _OpenedCheaply:
    """What both storages share: opened from `base_dir`, or from the instance's folder when the
    instance registers it (no `base_dir` configured); one pooled engine."""

    SHARD: str  # the file's name without .db
    TABLES: tuple[str, ...] = ()  # tables `from_local` would create even in a stamped file
    STOCK: type
    FOLDER_OF: staticmethod  # the instance's root folder -> where Dagster keeps the file

    def __init__(self, base_dir: str | None = None, inst_data: ConfigurableClassData | None = None):
        self._inst_data = inst_data
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        self._opened = False
        if base_dir is not None:
            self._open(base_dir)

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {"base_dir": Field(StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict):  # ty: ignore[invalid-method-override]
        return cls(config_value.get("base_dir"), inst_data=inst_data)

    def _open(self, base_dir: str) -> None:
        mkdir_p(base_dir)
        path = os.path.join(base_dir, f"{self.SHARD}.db")
        with contextlib.suppress(OSError):  # where it cannot, from_local below makes it in place
            sqlite_files.made_whole(path, lambda folder: self.STOCK.from_local(folder).dispose())
        if not sqlite_files.stamped(path, self.TABLES):
            self.STOCK.from_local(base_dir)  # Dagster's own: creates, stamps, migrates the file
        self.STOCK.__init__(self, create_db_conn_string(base_dir, self.SHARD), self._inst_data)
        self._opened = True

    def register_instance(self, instance) -> None:
        if not self._opened:
            self._open(self.FOLDER_OF(instance.root_directory))
        super().register_instance(instance)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self._pooled().connect() as conn, conn.begin():
            yield conn

    def _pooled(self) -> Engine:
        with self._engine_lock:
            if self._engine is None:  # as event_log.py's: one kept, more at once never waited for
                self._engine = create_engine(
                    self._conn_string, poolclass=QueuePool, pool_size=1, max_overflow=-1,
                    connect_args={"check_same_thread": False})
                event.listen(self._engine, "connect", sqlite_files.no_fsync_per_commit)
            return self._engine

    def dispose(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
        super().dispose()


class FastSqliteRunStorage(_OpenedCheaply, SqliteRunStorage):
    """`SqliteRunStorage`, opened cheaply (see the module's docstring). Same file: an instance can
    switch back and forth."""

    SHARD = "runs"
    TABLES = ("instance_info",)
    STOCK = SqliteRunStorage
    FOLDER_OF = staticmethod(_runs_directory)


class FastSqliteScheduleStorage(_OpenedCheaply, SqliteScheduleStorage):
    """`SqliteScheduleStorage`, opened cheaply (see the module's docstring)."""

    SHARD = "schedules"
    STOCK = SqliteScheduleStorage
    FOLDER_OF = staticmethod(_schedule_directory)

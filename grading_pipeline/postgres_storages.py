"""The production instance's storages: dagster-postgres's own, with their connections kept in every
process. Selected in deploy/dagster.prod.yaml (`run_storage:`, `event_log_storage:`,
`schedule_storage:`).

dagster-postgres pools connections only in the webserver (`optimize_for_webserver`); everywhere
else, run workers and the daemon included, each storage opens a new connection (TCP, then TLS and
password or IAM auth in production) for every statement, so as to hold none between them. A run
records a few statements per event, and a season graded as one run records ~2,700 events: on a
loopback server with password auth that run took 147 s, 1 s of it the grading; a one-date run
opened 28 connections (~0.2 s) for its run and schedule state alone. Here each storage keeps one
connection per process, opens more only while threads need them at the same time, pings it before
use (a server restart or a failover costs a reconnect, not an event) and replaces it hourly. Same
schema, rows and queries: only the engine differs, and the webserver still gets Dagster's own.
The event log also, as locally: asks once whether the check tables exist, not for every check
event, serializes a range run's planned check rows' event once, and holds a run's check
evaluations back to store them in one transaction per batch (event_log_mixins.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as db
from dagster._config.config_schema import UserConfigSchema
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.config import pg_config
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_postgres.event_log.event_log import CHANNEL_NAME
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from sqlalchemy.engine import Connection

from grading_pipeline import settings
from grading_pipeline.event_log_mixins import CheckEvaluationsHeldBack, PlannedCheckRowsSerializedOnce, TablesKnownOnce

EXTRA_CONNECTIONS = 4  # beyond the one kept: threads of one process writing at the same moment
RECYCLE_SECONDS = 3600  # as the webserver's default


class ConnectionKept:
    """A dagster-postgres storage whose engine keeps its connection (see the module's docstring)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider=None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._keep_connection()

    def _keep_connection(self) -> None:  # after Dagster's __init__, which made a NullPool engine
        self._engine.dispose()
        self._engine = create_pg_engine(
            self.postgres_url, self._token_provider, isolation_level="AUTOCOMMIT",
            pool_size=1, max_overflow=EXTRA_CONNECTIONS, pool_recycle=RECYCLE_SECONDS, pool_pre_ping=True,
        )

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return pg_config()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: dict):  # ty: ignore[invalid-method-override]
        # As dagster-postgres's from_config_value, which builds its own class, not cls.
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        self._engine.dispose()  # the webserver's pooled engine, with its statement timeout, replaces ours
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)

    def dispose(self) -> None:
        super().dispose()
        self._engine.dispose()


class PooledPostgresRunStorage(ConnectionKept, PostgresRunStorage):
    """`PostgresRunStorage` whose engine keeps its connection."""


class PooledPostgresScheduleStorage(ConnectionKept, PostgresScheduleStorage):
    """`PostgresScheduleStorage` whose engine keeps its connection."""


class PooledPostgresEventLogStorage(ConnectionKept, CheckEvaluationsHeldBack, TablesKnownOnce,
                                    PlannedCheckRowsSerializedOnce, PostgresEventLogStorage):
    """`PostgresEventLogStorage` whose engine keeps its connection, and whose check evaluations are
    held back and stored in batches."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider=None):
        self._hold_back_check_evaluations()  # before Dagster's __init__, which already connects
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        settings.batch_dagster_events()  # a step's materializations: one INSERT (dagster-postgres batches them)

    def store_event(self, event: EventLogEntry) -> None:
        if self._held_back(event):
            return
        self.flush_check_evaluations()  # stored in order: the evaluations held back first
        super().store_event(event)

    def _store_check_evaluations(self, events: Sequence[EventLogEntry]) -> None:
        """What `store_event` writes for each evaluation, in one transaction for all: the events
        (one INSERT), their notifications (one statement), their planned check rows."""
        rows = [self._event_to_row(event) for event in events]
        with self.index_transaction() as conn:
            inserted = conn.execute(
                SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True),
                rows)
            event_ids = [event_id for (event_id,) in inserted]
            _notify(conn, [f"{row['run_id']}_{event_id}" for row, event_id in zip(rows, event_ids)])
            self._store_run_check_evaluations(
                conn, [(event, event_id, row["event"]) for event, event_id, row in zip(events, event_ids, rows)])

    def _store_one_by_one(self, events: Sequence[EventLogEntry]) -> None:
        for event in events:
            super().store_event(event)

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        self.flush_check_evaluations()  # whatever reads or writes next sees them
        with super()._connect() as conn:
            yield conn

    def dispose(self) -> None:
        self.flush_check_evaluations()
        super().dispose()


def _notify(conn: Connection, payloads: list[str]) -> None:
    # dagster-postgres still sends a NOTIFY per event ("preserved to support version skew"): so do we.
    conn.execute(db.text(f"SELECT pg_notify('{CHANNEL_NAME}', payload) FROM unnest(CAST(:payloads AS text[])) AS payload"),
                 {"payloads": payloads})

"""The production event log (grading_pipeline/postgres_storages.py) on a real PostgreSQL server: a
range run keeps one connection instead of opening one for every statement, and records every date's
materializations and check evaluations, the rows dagster-postgres's own storage writes for the same events."""

from __future__ import annotations

import pytest
import sqlalchemy
from dagster import AssetCheckKey, DagsterEventType
from dagster_postgres import PostgresEventLogStorage

from grading_pipeline.postgres_storages import (
    EXTRA_CONNECTIONS,
    PooledPostgresEventLogStorage,
    PooledPostgresRunStorage,
    PooledPostgresScheduleStorage,
)
from grading_pipeline_tests.production.test_materialize_on_postgres import (
    ACCURACY, PERFORMANCE, SCORECARD, grading_job)

pytestmark = pytest.mark.postgres


def counting_connects(engine) -> list:
    opened: list = []
    sqlalchemy.event.listen(engine, "connect", lambda *_: opened.append(1))
    return opened


def test_a_range_run_keeps_its_connection_and_records_every_date(
    prod_instance, prod_home, season, warehouse, partition_lock, postgres_server
):
    from grading_pipeline.assets import grade_game_dates

    storage = prod_instance.event_log_storage
    assert isinstance(storage, PooledPostgresEventLogStorage)
    assert isinstance(prod_instance.run_storage, PooledPostgresRunStorage)
    assert isinstance(prod_instance.schedule_storage, PooledPostgresScheduleStorage)
    opened = counting_connects(storage._engine)
    run_state_opened = counting_connects(prod_instance.run_storage._engine)
    days = [d.isoformat() for d in season.game_dates]
    result = grading_job(warehouse, partition_lock).execute_in_process(
        instance=prod_instance,
        tags={"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]})
    assert result.success
    events = prod_instance.all_logs(result.run_id)
    assert len(events) > 60
    assert 1 <= len(opened) <= 1 + EXTRA_CONNECTIONS  # for all those events
    assert 1 <= len(run_state_opened) <= 1 + EXTRA_CONNECTIONS  # the run's status, tags, snapshots

    for key in (ACCURACY, PERFORMANCE, SCORECARD):
        records = prod_instance.fetch_materializations(key, limit=100).records
        assert sorted(r.partition_key for r in records) == days
    executions = storage.get_asset_check_execution_history(AssetCheckKey(ACCURACY, "no_duplicate_business_keys"), limit=100)
    assert sorted(e.partition for e in executions) == days
    assert {e.status.value for e in executions} == {"SUCCEEDED"}

    # dagster-postgres's own storage, given the same events, opens a connection for every statement.
    database = postgres_server.create_database()
    stock = PostgresEventLogStorage(database.url.replace("postgresql://", "postgresql+psycopg2://", 1))
    stock_opened = counting_connects(stock._engine)
    for event in events:
        stock.store_event(event)
    assert len(stock_opened) >= len(events)
    stored = [e for e in stock.get_records_for_run(result.run_id, limit=10_000).records]
    assert len(stored) == len(events)
    assert sum(e.event_log_entry.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION for e in stored) == 3 * len(days)
    stock.dispose()
    # The check rows (planned, then evaluated, one per check and date) are the stock storage's rows.
    rows = ("SELECT asset_key, check_name, partition, run_id, execution_status, evaluation_event "
            "FROM asset_check_executions ORDER BY asset_key, check_name, partition")
    ours_rows = prod_home.database.query(rows)
    assert len(ours_rows) == len(grade_game_dates.check_keys) * len(days)
    assert ours_rows == database.query(rows)


def test_every_table_is_as_dagster_postgres_leaves_it_with_evaluations_held_back(postgres_server):
    """The events of every kind a run records, stored one at a time as Dagster stores them (this
    storage holds the check evaluations back and writes them in one transaction): every table and
    row as dagster-postgres's own storage leaves them, ids included."""
    from grading_pipeline_tests.test_event_log import every_kind_of_event

    events = every_kind_of_event("e" * 36)
    databases = {}
    for name, kind in (("ours", PooledPostgresEventLogStorage), ("stock", PostgresEventLogStorage)):
        databases[name] = postgres_server.create_database()
        storage = kind(databases[name].url.replace("postgresql://", "postgresql+psycopg2://", 1))
        for event in events:
            storage.store_event(event)
        if name == "ours":
            assert storage._pending == []  # the log line after the evaluations stored them first
        storage.dispose()

    write_times = {"create_timestamp", "migration_completed"}  # when the row was written, not what

    def tables(database) -> dict:
        found = {}
        for (table,) in database.query("SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema = 'public' AND table_name != 'alembic_version'"):
            columns = [c for (c,) in database.query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND table_name = %s ORDER BY ordinal_position", (table,)) if c not in write_times]
            found[table] = sorted(database.query(f'SELECT {", ".join(chr(34) + c + chr(34) for c in columns)} FROM {table}'),
                                  key=repr)
        return found

    ours, stock = tables(databases["ours"]), tables(databases["stock"])
    assert ours.keys() == stock.keys()
    for table, rows in stock.items():
        assert ours[table] == rows, table
    assert len(stock["event_logs"]) == len(events)
    assert len(stock["asset_check_executions"]) == 4


def test_the_webserver_still_gets_dagsters_engine_with_its_statement_timeout(prod_instance):
    storage = prod_instance.event_log_storage
    ours = storage._engine
    storage.optimize_for_webserver(statement_timeout=7000, pool_recycle=3600, max_overflow=2)
    assert storage._engine is not ours
    with storage._connect() as conn:
        assert conn.execute(sqlalchemy.text("SHOW statement_timeout")).scalar() == "7s"
    assert storage.get_asset_keys() == []  # and it serves reads

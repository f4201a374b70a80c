"""The local instance's event log (grading_pipeline/event_log.py), on real SQLite files and real
processes: what it stores is what Dagster's own storage stores, concurrent run workers lose
nothing, a failed batch leaves nothing half-written, and a live run can still be followed."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from dagster import AssetCheckEvaluation, AssetCheckKey, AssetKey, AssetMaterialization, DagsterInstance
from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from grading_pipeline import sqlite_files
from grading_pipeline.event_log import FastSqliteEventLogStorage

ROOT = Path(__file__).resolve().parent.parent

# A daily-partitioned asset with a partitioned check evaluated per date: the event mix of a
# range run of the graded tables (planned events, a batch of materializations, one evaluation
# per date), at a size a test can afford.
DEFINITIONS = textwrap.dedent('''
    from dagster import (AssetCheckEvaluation, AssetCheckSpec, AssetSpec, BackfillPolicy, DailyPartitionsDefinition,
                         Definitions, MaterializeResult, in_process_executor, multi_asset)

    days = DailyPartitionsDefinition(start_date="2025-01-01", end_date="2025-03-01")

    # As the graded tables: a subsettable multi-asset whose step records each date's evaluation.
    @multi_asset(specs=[AssetSpec("daily", partitions_def=days)], can_subset=True,
                 backfill_policy=BackfillPolicy.single_run(),
                 check_specs=[AssetCheckSpec("sane", asset="daily", partitions_def=days)])
    def daily(context):
        for key in context.partition_keys:
            context.add_asset_metadata({"rows": len(key)}, partition_key=key)
        yield MaterializeResult()
        for key in context.partition_keys:
            yield AssetCheckEvaluation(asset_key=context.asset_key, check_name="sane", passed=True, partition=key)

    defs = Definitions(assets=[daily], executor=in_process_executor)
''')


def home_with_project_instance(tmp_path: Path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def materialize_range(home: Path, module: Path, first: str, last: str) -> subprocess.Popen:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("DAGSTER_EVENT_BATCH_SIZE", None)
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-f", str(module),
         "--select", "daily", "--partition-range", f"{first}...{last}"],
        env=env, cwd=module.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_the_project_instance_uses_this_storage(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(home_with_project_instance(tmp_path)))
    with DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, FastSqliteEventLogStorage)
        # Where Dagster's own SQLite event log would be: switching back finds the same history.
        assert Path(instance.event_log_storage._base_dir) == tmp_path / "dagster_home" / "history" / "runs"


def test_concurrent_range_runs_record_every_event(tmp_path, monkeypatch):
    home = home_with_project_instance(tmp_path)
    module = tmp_path / "daily_defs.py"
    module.write_text(DEFINITIONS)
    ranges = [("2025-01-01", "2025-01-30"), ("2025-01-15", "2025-02-13"), ("2025-01-01", "2025-02-13")]
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get():  # created first: Dagster's run storage races on its own first init
        pass
    workers = [materialize_range(home, module, first, last) for first, last in ranges]  # all at once
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-3000:]

    with DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 3 and all(run.is_success for run in runs)
        key = AssetKey("daily")
        materializations = instance.fetch_materializations(key, limit=1000).records
        expected = {}
        for first, last in ranges:
            for day in _days(first, last):
                expected[day] = expected.get(day, 0) + 1
        seen: dict[str, int] = {}
        for record in materializations:
            seen[record.partition_key] = seen.get(record.partition_key, 0) + 1
            assert record.asset_materialization.metadata["rows"].value == len(record.partition_key)
        assert seen == expected
        # Every date's evaluation landed on its partition, for every run (none left "planned").
        executions = instance.event_log_storage.get_asset_check_execution_history(AssetCheckKey(key, "sane"), limit=1000)
        statuses: dict[str, list] = {}
        for execution in executions:
            statuses.setdefault(execution.partition, []).append(execution.status)
        assert {day: len(s) for day, s in statuses.items()} == expected
        assert {s for ss in statuses.values() for s in ss} == {AssetCheckExecutionRecordStatus.SUCCEEDED}


def test_a_failed_batch_writes_nothing(tmp_path, monkeypatch):
    storage = FastSqliteEventLogStorage(str(tmp_path / "runs"))
    run_id = "a" * 36
    events = [_materialization(run_id, f"2025-01-0{day}") for day in range(1, 4)]

    def fail_after_the_inserts(conn, event, event_id):  # the asset key row: the batch's last write
        raise RuntimeError("disk full (forced by the test)")

    monkeypatch.setattr(storage, "_store_asset_event", fail_after_the_inserts)
    with pytest.raises(RuntimeError, match="forced by the test"):
        storage.store_event_batch(events)
    monkeypatch.undo()
    assert storage.get_records_for_run(run_id).records == []
    assert storage.fetch_materializations(AssetKey("daily"), limit=10).records == []

    storage.store_event_batch(events)  # the same batch, now whole
    assert len(storage.get_records_for_run(run_id).records) == 3
    partitions = {r.partition_key for r in storage.fetch_materializations(AssetKey("daily"), limit=10).records}
    assert partitions == {"2025-01-01", "2025-01-02", "2025-01-03"}
    storage.dispose()


def test_a_live_run_can_be_followed_from_another_process(tmp_path):
    """The webserver follows a running run by watching its shard file; the writer here keeps its
    pooled connection open (it has not exited) while the watcher must already see the events."""
    base_dir = tmp_path / "runs"
    watcher = FastSqliteEventLogStorage(str(base_dir))
    run_id = "b" * 36
    seen: list[EventLogEntry] = []
    watcher.watch(run_id, None, lambda event, cursor: seen.append(event))
    release = tmp_path / "release"
    writer = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f'''
        import time, pathlib
        from grading_pipeline.event_log import FastSqliteEventLogStorage
        from grading_pipeline_tests.test_event_log import _materialization
        storage = FastSqliteEventLogStorage({str(base_dir)!r})
        storage.store_event(_materialization({run_id!r}, "2025-01-01"))
        storage.store_event_batch([_materialization({run_id!r}, "2025-01-02"), _materialization({run_id!r}, "2025-01-03")])
        print("STORED", flush=True)
        while not pathlib.Path({str(release)!r}).exists():
            time.sleep(0.05)
    ''')], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "STORED", writer.stderr.read()
        deadline = time.monotonic() + 10
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        partitions = sorted(e.dagster_event.partition for e in seen)
        assert partitions == ["2025-01-01", "2025-01-02", "2025-01-03"], "the watcher missed the live run's events"
        assert writer.poll() is None  # seen while the writer was still running
    finally:
        release.touch()
        writer.wait(timeout=30)
        watcher.dispose()


def test_held_back_check_evaluations_are_read_in_order_and_stored_at_exit(tmp_path):
    """A run's check evaluations wait for the next event; a read sees them first, the order of
    storage is the order of events, and a process that exits without disposing stores them."""
    storage = FastSqliteEventLogStorage(str(tmp_path / "runs"))
    run_id = "c" * 36
    storage.store_event(_evaluation(run_id, "2025-01-01", passed=True))
    storage.store_event(_evaluation(run_id, "2025-01-02", passed=False))
    history = storage.get_asset_check_execution_history(AssetCheckKey(AssetKey("daily"), "sane"), limit=10)
    assert {(h.partition, h.status) for h in history} == {
        ("2025-01-01", AssetCheckExecutionRecordStatus.SUCCEEDED), ("2025-01-02", AssetCheckExecutionRecordStatus.FAILED)}
    storage.store_event(_evaluation(run_id, "2025-01-03", passed=True))
    storage.store_event(_materialization(run_id, "2025-01-04"))
    records = storage.get_records_for_run(run_id).records
    assert [_partition(r.event_log_entry) for r in records] == [
        "2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04"]
    assert [r.storage_id for r in records] == sorted(r.storage_id for r in records)
    storage.dispose()

    base_dir = tmp_path / "exiting"
    exited = subprocess.run([sys.executable, "-c", textwrap.dedent(f'''
        from grading_pipeline.event_log import FastSqliteEventLogStorage
        from grading_pipeline_tests.test_event_log import _evaluation
        storage = FastSqliteEventLogStorage({str(base_dir)!r})
        storage.store_event(_evaluation({run_id!r}, "2025-01-05", passed=True))
        assert storage._pending  # held back when the process ends
    ''')], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert exited.returncode == 0, exited.stderr
    reopened = FastSqliteEventLogStorage(str(base_dir))
    assert [_partition(r.event_log_entry) for r in reopened.get_records_for_run(run_id).records] == ["2025-01-05"]
    reopened.dispose()


def test_planned_check_rows_are_dagsters_own(tmp_path):
    """The planned rows of a range run's check (one per partition), written by this storage's
    cheaper path, are the rows Dagster's stock storage writes for the same event."""
    from dagster import DailyPartitionsDefinition
    from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
    from dagster._core.storage.event_log import SqliteEventLogStorage

    days = DailyPartitionsDefinition(start_date="2025-01-01")
    subset = days.subset_with_partition_keys(_days("2025-01-01", "2025-01-20")).to_serializable_subset()
    event = EventLogEntry(
        error_info=None, level="DEBUG", user_message="", run_id="d" * 36, timestamp=time.time(),
        dagster_event=DagsterEvent(
            event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value, job_name="test_job",
            event_specific_data=AssetCheckEvaluationPlanned(asset_key=AssetKey("daily"), check_name="sane",
                                                            partitions_subset=subset)),
    )
    rows = {}
    for name, storage in (("ours", FastSqliteEventLogStorage(str(tmp_path / "ours"))),
                          ("stock", SqliteEventLogStorage(str(tmp_path / "stock")))):
        storage.store_event(event)
        storage.store_event(_evaluation("d" * 36, "2025-01-07", passed=False))  # and the planned row is updated
        history = storage.get_asset_check_execution_history(AssetCheckKey(AssetKey("daily"), "sane"), limit=100)
        rows[name] = sorted((h.partition, h.run_id, h.status, h.event.dagster_event_type if h.event else None)
                            for h in history)
        storage.dispose()
    assert len(rows["ours"]) == 20
    assert rows["ours"] == rows["stock"]


def test_a_batch_leaves_every_table_as_dagsters_storage_does_event_by_event(tmp_path):
    """One batch of every kind a run records (run status, planned materializations and checks,
    materializations of two assets with an indexed tag, an observation, evaluations onto planned
    rows and one never planned, a plain log line) leaves each SQLite file, table and row as
    Dagster's stock storage leaves them storing the same events one at a time."""
    from dagster._core.storage.event_log import SqliteEventLogStorage

    run_id = "e" * 36
    events = every_kind_of_event(run_id)
    ours = FastSqliteEventLogStorage(str(tmp_path / "ours"))
    ours.store_event_batch(events)
    ours.dispose()
    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    for event in events:
        stock.store_event(event)
    stock.dispose()

    WRITE_TIMES = {"create_timestamp", "migration_completed"}  # when the row was written, not what

    def tables(folder: Path) -> dict:
        import sqlite3

        found = {}
        for path in sorted(folder.glob("*.db")):
            with sqlite3.connect(path) as con:
                for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'alembic_version'"):
                    columns = [f'"{c[1]}"' for c in con.execute(f"PRAGMA table_info({table})") if c[1] not in WRITE_TIMES]
                    found[(path.name, table)] = con.execute(
                        f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid").fetchall()
        return found

    ours_tables, stock_tables = tables(tmp_path / "ours"), tables(tmp_path / "stock")
    # The files themselves too: a run's shard is a copy of a template (sqlite_files.py).
    assert schemas(tmp_path / "ours") == schemas(tmp_path / "stock")
    assert ours_tables.keys() == stock_tables.keys()
    for name, rows in stock_tables.items():
        assert ours_tables[name] == rows, name
    assert len(stock_tables[(f"{run_id}.db", "event_logs")]) == len(events)
    assert len(stock_tables[("index.db", "asset_check_executions")]) == 4


def every_kind_of_event(run_id: str) -> list[EventLogEntry]:
    """What a run records, of every kind: run status, planned materializations and checks,
    materializations of two assets with an indexed tag, an observation, evaluations onto planned
    rows, one re-evaluated, one never planned then updated, a plain log line."""
    from dagster import AssetObservation, DailyPartitionsDefinition
    from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluationPlanned
    from dagster._core.events import AssetMaterializationPlannedData, AssetObservationData

    days = ["2025-01-01", "2025-01-02", "2025-01-03"]
    subset = DailyPartitionsDefinition(start_date="2025-01-01").subset_with_partition_keys(days).to_serializable_subset()
    return [
        _entry(run_id, DagsterEventType.RUN_START, None),
        *[_entry(run_id, DagsterEventType.ASSET_MATERIALIZATION_PLANNED, AssetMaterializationPlannedData(AssetKey("daily"), day))
          for day in days],
        _entry(run_id, DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED, AssetCheckEvaluationPlanned(
            asset_key=AssetKey("daily"), check_name="sane", partitions_subset=subset)),
        *[_materialization(run_id, day, tags={"dagster/data_version": day, "not_indexed": "x"}) for day in days],
        _materialization(run_id, None, asset="other"),
        _materialization(run_id, None, asset="other"),
        _entry(run_id, DagsterEventType.ASSET_OBSERVATION, AssetObservationData(AssetObservation(AssetKey("other")))),
        _evaluation(run_id, "2025-01-02", passed=False),
        _evaluation(run_id, "2025-01-01", passed=True),
        _evaluation(run_id, "2025-01-01", passed=False),  # re-evaluated: the last one stands
        _evaluation(run_id, "2025-01-09", passed=True),  # never planned: a row of its own,
        _evaluation(run_id, "2025-01-09", passed=False),  # then updated
        EventLogEntry(error_info=None, level="INFO", user_message="a plain log line", run_id=run_id,
                      timestamp=time.time(), dagster_event=None),
    ]


def file_schema(path: Path) -> tuple:
    """A SQLite file's tables, indexes and their SQL, alembic revision and journal mode."""
    import sqlite3

    with sqlite3.connect(path) as con:
        return (
            con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall(),
            con.execute("SELECT version_num FROM alembic_version").fetchall(),
            con.execute("PRAGMA journal_mode").fetchone(),
        )


def schemas(folder: Path) -> dict:
    """`file_schema` of each SQLite file of the folder."""
    return {path.name: file_schema(path) for path in sorted(folder.glob("*.db"))}


def test_a_new_run_shard_is_ready_without_alembic(tmp_path, monkeypatch):
    """A run's shard is copied from the template made by the first one, and a stamped shard is not
    inspected again: neither needs alembic's migration scripts (~90 ms of every launched run)."""
    from dagster._core.storage.event_log.sqlite import sqlite_event_log

    folder = tmp_path / "runs"
    first = FastSqliteEventLogStorage(str(folder))
    first.store_event(_materialization("a" * 36, "2025-01-01"))
    first.dispose()

    def no_alembic(*args, **kwargs):
        raise AssertionError("alembic consulted")

    monkeypatch.setattr(sqlite_event_log, "check_alembic_revision", no_alembic)
    monkeypatch.setattr(sqlite_event_log, "stamp_alembic_rev", no_alembic)
    later = FastSqliteEventLogStorage(str(folder))  # as a new process: nothing known yet
    later.store_event(_materialization("b" * 36, "2025-01-02"))
    later.store_event(_materialization("a" * 36, "2025-01-03"))
    assert sorted(later.get_all_run_ids()) == ["a" * 36, "b" * 36]  # the template is no run
    assert [r.partition_key for r in later.fetch_materializations(AssetKey("daily"), limit=10).records] == [
        "2025-01-03", "2025-01-02", "2025-01-01"]
    later.dispose()


def test_a_shard_another_process_created_is_kept(tmp_path):
    from dagster._core.storage.event_log import SqliteEventLogStorage

    folder, run_id = tmp_path / "runs", "c" * 36
    stock = SqliteEventLogStorage(str(folder))
    for day in ("2025-01-01", "2025-01-02"):
        stock.store_event(_materialization(run_id, day))
    stock.dispose()
    ours = FastSqliteEventLogStorage(str(folder))
    ours.store_event(_materialization("d" * 36, "2025-01-03"))  # makes the template
    ours.store_event(_materialization(run_id, "2025-01-04"))
    assert [r.event_log_entry.dagster_event.partition for r in ours.get_records_for_run(run_id).records] == [
        "2025-01-01", "2025-01-02", "2025-01-04"]
    ours.dispose()


def test_processes_starting_the_same_run_at_once_all_land(tmp_path):
    """Six processes store the first events of one new run in a new folder at the same moment: the
    template and the shard are made once, every event lands, nothing is left half-made."""
    folder, run_id = tmp_path / "runs", "f" * 36
    start_at = time.time() + 3
    script = textwrap.dedent(f'''
        import sys, time
        from grading_pipeline.event_log import FastSqliteEventLogStorage
        from grading_pipeline_tests.test_event_log import _materialization
        storage = FastSqliteEventLogStorage({str(folder)!r})
        time.sleep(max(0.0, {start_at!r} - time.time()))
        for n in range(5):
            storage.store_event(_materialization({run_id!r}, "2025-01-01", tags={{"worker": sys.argv[1]}}))
        storage.dispose()
    ''')
    workers = [subprocess.Popen([sys.executable, "-c", script, str(n)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
               for n in range(6)]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
    storage = FastSqliteEventLogStorage(str(folder))
    assert len(storage.get_records_for_run(run_id).records) == 30
    storage.dispose()
    names = sorted(p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm")))
    assert [n for n in names if n.endswith(".tmp")] == []
    assert [n for n in names if n.startswith(".run-shard-template")] == [sqlite_files.template_path(str(folder)).name]
    from dagster._core.storage.event_log import SqliteEventLogStorage

    stock = SqliteEventLogStorage(str(tmp_path / "stock"))
    stock.store_event(_materialization(run_id, "2025-01-01"))
    stock.dispose()
    assert schemas(folder) == schemas(tmp_path / "stock")


def _entry(run_id: str, kind: DagsterEventType, data) -> EventLogEntry:
    return EventLogEntry(error_info=None, level="DEBUG", user_message="", run_id=run_id, timestamp=time.time(),
                         dagster_event=DagsterEvent(event_type_value=kind.value, job_name="test_job",
                                                    event_specific_data=data))


def _partition(entry: EventLogEntry) -> str | None:
    event = entry.dagster_event
    return event.partition or getattr(event.event_specific_data, "partition", None)


def _evaluation(run_id: str, partition: str, passed: bool) -> EventLogEntry:
    evaluation = AssetCheckEvaluation(asset_key=AssetKey("daily"), check_name="sane", passed=passed, partition=partition)
    event = DagsterEvent(event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION.value, job_name="test_job",
                         event_specific_data=evaluation)
    return EventLogEntry(error_info=None, level="INFO", user_message="", run_id=run_id,
                         timestamp=time.time(), dagster_event=event)


def _materialization(run_id: str, partition: str | None, asset: str = "daily", tags: dict | None = None) -> EventLogEntry:
    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
        job_name="test_job",
        event_specific_data=StepMaterializationData(AssetMaterialization(AssetKey(asset), partition=partition, tags=tags)),
    )
    return EventLogEntry(error_info=None, level="INFO", user_message="", run_id=run_id,
                         timestamp=time.time(), dagster_event=event)


def _days(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


"""The local instance's run and schedule storages (grading_pipeline/sqlite_storages.py): Dagster's
files, made by Dagster the first time, then opened without alembic and through one pooled engine."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import sqlalchemy
import yaml
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.test_utils import create_run_for_test

from grading_pipeline.sqlite_storages import FastSqliteRunStorage, FastSqliteScheduleStorage
from grading_pipeline_tests.test_event_log import file_schema

ROOT = Path(__file__).resolve().parent.parent


def home_with(tmp_path: Path, name: str, project_storages: bool) -> Path:
    home = tmp_path / name
    home.mkdir()
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    if not project_storages:
        config.pop("run_storage"), config.pop("schedule_storage")
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def schemas(home: Path) -> dict:
    return {path.name: file_schema(path) for path in (home / "history" / "runs.db", home / "schedules" / "schedules.db")}


def test_a_new_instance_gets_dagsters_own_files(tmp_path, monkeypatch):
    homes = {}
    for name, ours in (("ours", True), ("stock", False)):
        homes[name] = home_with(tmp_path, name, ours)
        monkeypatch.setenv("DAGSTER_HOME", str(homes[name]))
        with DagsterInstance.get() as instance:
            kinds = (type(instance.run_storage), type(instance.schedule_storage))
            assert kinds == ((FastSqliteRunStorage, FastSqliteScheduleStorage) if ours
                             else (SqliteRunStorage, SqliteScheduleStorage))
            run = create_run_for_test(instance, job_name="a_job", tags={"dagster/partition": "2026-11-30"})
            assert instance.get_run_by_id(run.run_id).tags["dagster/partition"] == "2026-11-30"
    assert schemas(homes["ours"]) == schemas(homes["stock"])


def test_an_existing_instance_is_opened_without_alembic(tmp_path, monkeypatch):
    """A stamped file is what Dagster's from_local leaves as it is; alembic's scripts (~25 ms a
    storage) are not loaded to learn that again in every process."""
    from dagster._core.storage.runs.sqlite import sqlite_run_storage
    from dagster._core.storage.schedules.sqlite import sqlite_schedule_storage

    home = home_with(tmp_path, "home", True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with DagsterInstance.get() as instance:  # made here, by Dagster's from_local
        first = create_run_for_test(instance, job_name="a_job")

    def no_alembic(*args, **kwargs):
        raise AssertionError("alembic consulted")

    for module in (sqlite_run_storage, sqlite_schedule_storage):
        monkeypatch.setattr(module, "check_alembic_revision", no_alembic)
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(first.run_id).job_name == "a_job"
        second = create_run_for_test(instance, job_name="a_job", status=DagsterRunStatus.STARTED)
        assert [r.run_id for r in instance.get_runs()] == [second.run_id, first.run_id]
        assert instance.schedule_storage.all_instigator_state() == []
    monkeypatch.undo()  # Dagster's own storage reads the same file
    stock = SqliteRunStorage.from_local(str(home / "history"))
    assert {r.run_id for r in stock.get_runs()} == {first.run_id, second.run_id}


def test_a_file_not_stamped_goes_through_dagster(tmp_path):
    """A runs.db without its instance_info table (made by an older Dagster) is completed by
    Dagster's from_local, as before."""
    folder = tmp_path / "history"
    SqliteRunStorage.from_local(str(folder)).dispose()
    with sqlite3.connect(folder / "runs.db") as con:
        con.execute("DROP TABLE instance_info")
    storage = FastSqliteRunStorage(str(folder))
    with sqlite3.connect(folder / "runs.db") as con:
        assert con.execute("SELECT name FROM sqlite_master WHERE name = 'instance_info'").fetchone()
    assert storage.get_runs() == []
    storage.dispose()


def test_many_connections_at_once_never_wait_for_the_pool(tmp_path):
    """A webserver serves many requests at once: the pool keeps one connection and opens more as
    needed, as Dagster's storage (an engine per statement) never waited either."""
    from contextlib import ExitStack

    storage = FastSqliteRunStorage(str(tmp_path / "history"))
    storage._pooled().pool._timeout = 1  # a wait would fail within a second, not Dagster's 30 s
    with ExitStack() as held:
        connections = [held.enter_context(storage.connect()) for _ in range(20)]
        assert all(c.execute(sqlalchemy.text("SELECT 1")).scalar() == 1 for c in connections)
    storage.dispose()



def open_storages(folder: Path, stock: bool = False) -> None:
    """An instance folder's three SQLite storages opened (made, when new) as every Dagster process
    does: the project's, or Dagster's own."""
    from dagster._core.storage.event_log import SqliteEventLogStorage

    from grading_pipeline.event_log import FastSqliteEventLogStorage

    if stock:
        opened = (SqliteEventLogStorage(str(folder / "history" / "runs")),
                  SqliteRunStorage.from_local(str(folder / "history")),
                  SqliteScheduleStorage.from_local(str(folder / "schedules")))
    else:
        opened = (FastSqliteEventLogStorage(str(folder / "history" / "runs")),
                  FastSqliteRunStorage(str(folder / "history")), FastSqliteScheduleStorage(str(folder / "schedules")))
    for storage in opened:
        storage.dispose()


def files_of_an_instance(folder: Path) -> dict:
    """Each file's schema and alembic revision, and the data migrations it records as done."""
    made = {}
    for path in (folder / "history" / "runs.db", folder / "schedules" / "schedules.db",
                 folder / "history" / "runs" / "index.db"):
        with sqlite3.connect(path) as con:
            migrated = sorted(name for (name,) in con.execute("SELECT name FROM secondary_indexes"))
        made[path.name] = (file_schema(path), migrated)
    return made


def test_processes_opening_a_new_instance_at_once_all_get_dagsters_files(tmp_path):
    """Six processes (a webserver, a daemon, runs launched together) open a new instance's storages
    at the same moment. Dagster makes each file in place, in steps the others see: through its own
    code they crashed ("table runs already exists") and left runs.db and schedules.db with two
    alembic heads or an old revision in 9 of 10 such rounds. Each file is now made whole first."""
    open_storages(tmp_path / "stock", stock=True)
    folder, start_at = tmp_path / "ours", time.time() + 3
    script = textwrap.dedent(f'''
        import time
        from pathlib import Path
        from grading_pipeline_tests.test_sqlite_storages import open_storages
        time.sleep(max(0.0, {start_at!r} - time.time()))
        open_storages(Path({str(folder)!r}))
    ''')
    workers = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True)
               for _ in range(6)]
    for worker in workers:
        _, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err[-3000:]
    assert files_of_an_instance(folder) == files_of_an_instance(tmp_path / "stock")
    assert [p.name for p in folder.rglob("*.tmp")] == []
    open_storages(folder, stock=True)  # Dagster's own storages open them as theirs

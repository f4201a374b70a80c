"""The local instance's SQLite files, made ready cheaply (used by event_log.py and
sqlite_storages.py).

Dagster's SQLite event log keeps each run in a file of its own. Before its first use in a process,
every file goes through `SqliteEventLogStorage._initdb`, which loads alembic's migration scripts to
learn the head revision (~20 ms) and, for a new run, creates the tables and stamps the revision
(~70 ms more): paid by every launched run, twice (its new shard, and the index shard it reads).

* A new run's file is a copy of a template that Dagster's own `_initdb` made once (kept beside the
  shards, one per Dagster and SQLAlchemy version), hard-linked into place so that it never
  replaces a file another process has created meanwhile;
* a file that already holds an alembic revision is left as it is, which is all `_initdb` does
  with it (it stamps only a file without one; upgrades are `dagster instance migrate`'s).

Anything else (no template possible, a file being created by another process) takes Dagster's
`_initdb`, with its retries. The run and schedule storages use `stamped` the same way.

Every file a new instance needs (the event log's index shard, runs.db, schedules.db, the template)
is made whole before it appears (`made_whole`): Dagster's own code makes it in a private folder,
and a hard link puts it in place. Dagster makes them in place, tables then alembic's stamp, in
steps other processes see: six processes opening a new instance at once left runs.db and
schedules.db with two alembic heads or an old revision in 9 of 10 rounds, and crashed some of the
processes ("table runs already exists"; afterwards every stock open fails, "more than one head").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import dagster
import sqlalchemy
from dagster._core.storage.sql import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

TEMPLATE_PREFIX = ".run-shard-template"  # not *.db: Dagster lists *.db files as runs


def template_path(base_dir: str) -> Path:
    return Path(base_dir) / f"{TEMPLATE_PREFIX}-dagster-{dagster.__version__}-sqlalchemy-{sqlalchemy.__version__}.sqlite"


def stamped(path: str, tables: tuple[str, ...] = ()) -> bool:
    """Whether the SQLite file at `path` holds an alembic revision, and `tables` (False when it
    cannot tell)."""
    if not os.path.isfile(path):
        return False
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=5)) as con:
            present = {name for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            return all(t in present for t in tables) and "alembic_version" in present and \
                con.execute("SELECT version_num FROM alembic_version").fetchone() is not None
    except sqlite3.Error:  # a file being created: Dagster's own initialization decides
        return False


def ensure_template(base_dir: str, initdb: Callable[[Engine], None]) -> Path:
    """The template of a new run's file, made with `initdb` (Dagster's own) if absent."""
    path = template_path(base_dir)

    def build(folder: str) -> None:
        engine = create_engine(f"sqlite:///{os.path.join(folder, path.name)}", poolclass=NullPool)
        try:
            initdb(engine)
        finally:
            engine.dispose()

    made_whole(str(path), build)
    return path


def made_whole(path: str, build: Callable[[str], None]) -> None:
    """Unless a file is at `path`, have `build` make it (under the same name, in the private
    folder it is given), then put it in place whole. Another process's file, made meanwhile, is
    kept: either is what Dagster makes. Raises OSError where it cannot (e.g. no hard links)."""
    if os.path.exists(path):
        return
    name = os.path.basename(path)
    staging = tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        build(staging)
        built = os.path.join(staging, name)
        with contextlib.closing(sqlite3.connect(built)) as con:  # everything in the file itself
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with contextlib.suppress(FileExistsError):
            os.link(built, path)  # unlike a rename, never replaces a file made meanwhile
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def create_from_template(template: Path, path: str) -> bool:
    """Put a copy of `template` at `path` unless a file is there already; True if it did."""
    if os.path.exists(path):
        return False
    staged = f"{path}.{uuid.uuid4().hex}.tmp"
    shutil.copyfile(template, staged)
    try:
        os.link(staged, path)  # unlike a rename, never replaces a file created meanwhile
        return True
    except OSError:  # a file created meanwhile (or no hard links here): Dagster's way then
        return False
    finally:
        os.remove(staged)


def no_fsync_per_commit(dbapi_connection, _record) -> None:
    """`PRAGMA synchronous=NORMAL` on a new connection (an engine's "connect" listener): on
    Dagster's WAL journal, a commit no longer waits for an fsync. A crash of the process loses
    nothing; a power cut may lose the last commits, never corrupt the file."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()

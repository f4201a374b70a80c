"""Waiting for the DuckDB file held by another process: said in the log with the holder's PID,
bounded by a configurable budget; read-only work opens the file read-only (and so shares it)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest

from grading_pipeline.errors import WarehouseUnavailableError
from grading_pipeline.warehouse import DuckDBWarehouse

pytestmark = pytest.mark.processes


def hold_file(path, seconds: float, read_only: bool = False) -> subprocess.Popen:
    """Another OS process with the file open for `seconds` (prints READY once it has it)."""
    code = (f"import duckdb, time; con = duckdb.connect({str(path)!r}, read_only={read_only}); "
            f"print('READY', flush=True); time.sleep({seconds})")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "READY"
    return child


@pytest.fixture
def database(tmp_path):
    warehouse = DuckDBWarehouse(database=str(tmp_path / "warehouse.duckdb"))
    warehouse.ensure_tables(include_inputs=True)
    return warehouse


def test_a_wait_for_the_file_is_logged_with_the_holders_pid(database, caplog):
    caplog.set_level(logging.INFO)
    holder = hold_file(database.database, 2.0)
    started = time.monotonic()
    with database.session() as session:
        assert session.query_text("SELECT 1 AS one", {}) == [{"one": 1}]
    assert time.monotonic() - started >= 1.0
    holder.wait(10)
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"held by another process (PID {holder.pid})" in m and "waiting up to 120 s" in m for m in messages), messages
    assert any("opened after waiting" in m for m in messages)


def test_the_wait_budget_comes_from_the_environment(database, monkeypatch):
    monkeypatch.setenv("GRADING_DUCKDB_OPEN_TIMEOUT_SECONDS", "0.5")
    holder = hold_file(database.database, 10.0)
    try:
        started = time.monotonic()
        with pytest.raises(WarehouseUnavailableError, match=rf"held by another process \(PID {holder.pid}\) for more than 0.5 s"):
            with database.session():
                pass
        assert time.monotonic() - started < 3.0
    finally:
        holder.kill()
        holder.wait(10)


def test_read_only_work_shares_the_file_with_another_reader(database):
    reader = hold_file(database.database, 10.0, read_only=True)
    try:
        started = time.monotonic()
        with database.session(read_only=True) as session:
            rows = session.query("reports/graded_dates.sql", {"start_date": "2025-01-01", "end_date": "2025-01-02"})
        assert rows == [] and time.monotonic() - started < 1.0
    finally:
        reader.kill()
        reader.wait(10)

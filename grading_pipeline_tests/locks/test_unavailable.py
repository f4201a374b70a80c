"""An unreachable lock backend fails closed, within seconds, with a clear error."""

from __future__ import annotations

import socket
import time

import pytest

from grading_pipeline.locks import (
    FirestoreLockBackend,
    LockBackendUnavailableError,
    PartitionLock,
    SQLiteLockBackend,
    list_locks,
)


@pytest.fixture
def closed_port():
    """A local port that refuses connections (bound, not listening, so nobody else takes it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


@pytest.fixture
def silent_port():
    """A local port that accepts TCP connections and never answers (a hung server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def _hold_never_runs_body(lock: PartitionLock) -> None:
    with lock.hold("grading", "2025-01-20", "op-unreachable"):
        pytest.fail("the body must not run without the lock")


def test_firestore_refusing_connections_fails_closed_quickly(monkeypatch, closed_port):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port}")
    lock = PartitionLock(FirestoreLockBackend(project="nowhere", timeout_seconds=1.0),
                         max_wait_seconds=60.0, poll_interval_seconds=0.05)
    started = time.monotonic()
    with pytest.raises(LockBackendUnavailableError, match=r"Firestore unreachable .*nowhere") as info:
        _hold_never_runs_body(lock)
    assert time.monotonic() - started < 4.0
    assert f"127.0.0.1:{closed_port}" in str(info.value)
    with pytest.raises(LockBackendUnavailableError):
        list_locks(lock.backend)


def test_firestore_that_never_answers_fails_at_the_deadline(monkeypatch, silent_port):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{silent_port}")
    lock = PartitionLock(FirestoreLockBackend(project="nowhere", timeout_seconds=1.0),
                         max_wait_seconds=60.0, poll_interval_seconds=0.05)
    started = time.monotonic()
    with pytest.raises(LockBackendUnavailableError, match="did not answer|unreachable"):
        _hold_never_runs_body(lock)
    assert time.monotonic() - started < 4.0


def test_firestore_without_credentials_fails_closed(monkeypatch, tmp_path):
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    lock = PartitionLock(FirestoreLockBackend(project="nowhere", timeout_seconds=1.0))
    with pytest.raises(LockBackendUnavailableError, match="cannot create a Firestore client"):
        _hold_never_runs_body(lock)


def test_unusable_sqlite_file_fails_closed(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    lock = PartitionLock(SQLiteLockBackend(not_a_dir / "locks.sqlite"))
    with pytest.raises(LockBackendUnavailableError, match="SQLite lock store"):
        _hold_never_runs_body(lock)

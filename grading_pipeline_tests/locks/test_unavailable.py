"""A lock store that cannot answer: transient trouble is retried within the wait budget, a
permanent error or trouble lasting the whole budget fails closed, saying how long it tried."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from grading_pipeline.locks import (
    FirestoreLockStore,
    LockBackendUnavailableError,
    PartitionLock,
    SQLiteLockStore,
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


def test_firestore_refusing_connections_is_retried_for_the_wait_budget_then_fails(monkeypatch, closed_port):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port}")
    lock = PartitionLock(FirestoreLockStore(project="nowhere", timeout_seconds=0.5), max_wait_seconds=2.0)
    started = time.monotonic()
    with pytest.raises(LockBackendUnavailableError, match=r"did not answer .*nowhere") as info:
        _hold_never_runs_body(lock)
    waited = time.monotonic() - started
    assert 1.0 <= waited < 5.0, waited
    assert f"127.0.0.1:{closed_port}" in str(info.value)
    assert "tried for" in str(info.value) and info.value.transient
    with pytest.raises(LockBackendUnavailableError):
        list_locks(lock.store)


def test_firestore_that_never_answers_fails_at_the_budget(monkeypatch, silent_port):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{silent_port}")
    lock = PartitionLock(FirestoreLockStore(project="nowhere", timeout_seconds=0.5), max_wait_seconds=1.5)
    started = time.monotonic()
    with pytest.raises(LockBackendUnavailableError, match="did not answer.*tried for"):
        _hold_never_runs_body(lock)
    assert time.monotonic() - started < 5.0


def test_firestore_without_credentials_fails_at_once(monkeypatch, tmp_path):
    monkeypatch.delenv("FIRESTORE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    lock = PartitionLock(FirestoreLockStore(project="nowhere", timeout_seconds=1.0), max_wait_seconds=60.0)
    started = time.monotonic()
    with pytest.raises(LockBackendUnavailableError, match="cannot create a Firestore client.*permanent error"):
        _hold_never_runs_body(lock)
    assert time.monotonic() - started < 3.0


def test_unusable_sqlite_file_fails_at_once(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    lock = PartitionLock(SQLiteLockStore(not_a_dir / "locks.sqlite"), max_wait_seconds=60.0)
    started = time.monotonic()
    with pytest.raises(LockBackendUnavailableError, match="SQLite lock store"):
        _hold_never_runs_body(lock)
    assert time.monotonic() - started < 3.0


class Flaky:
    """A real store whose first calls fail as a slow Firestore would (a missed deadline)."""

    def __init__(self, inner, failures: int):
        self._inner, self.name, self.failures, self.calls = inner, inner.name, failures, 0

    def acquire(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise LockBackendUnavailableError("Firestore did not answer: read exceeded its 5 s deadline", transient=True)
        return self._inner.acquire(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._inner, name)


def test_a_slow_answer_is_not_an_outage(tmp_path, caplog):
    """Seen under load: one read past its deadline failed the run as "backend unavailable"."""
    caplog.set_level(logging.WARNING, logger="grading_pipeline.locks")
    flaky = Flaky(SQLiteLockStore(tmp_path / "locks.sqlite"), failures=3)
    lock = PartitionLock(flaky, max_wait_seconds=30.0, poll_interval_seconds=0.05)
    with lock.hold("grading", "2025-01-20", "op") as (lease,):
        assert lease.locked and lease.fencing_token > 0
    assert flaky.calls == 4
    retries = [r for r in caplog.records if "transient error, retrying" in r.getMessage()]
    assert len(retries) == 3 and all(r.levelno == logging.WARNING for r in retries)

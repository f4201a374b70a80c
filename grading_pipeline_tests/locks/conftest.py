"""Fixtures of the lock suite: every contract test runs on both backends (SQLite file and the real
Firestore emulator)."""

from __future__ import annotations

from typing import Callable

import pytest

from grading_pipeline.locks import FirestoreLockStore, LockRecord, LockStore, PartitionLock, SQLiteLockStore, make_holder_id
from grading_pipeline_tests.support.firestore_emulator import (  # noqa: F401  (fixtures)
    firestore_emulator,
    firestore_emulator_clean,
)

BACKENDS = ["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)]


@pytest.fixture(params=BACKENDS)
def backend_kind(request) -> str:
    return request.param


@pytest.fixture
def backend_factory(backend_kind, tmp_path, request) -> Callable[[], LockStore]:
    """Makes backends (one per simulated process) on the same store; closed after the test."""
    made: list[LockStore] = []
    if backend_kind == "firestore":
        emulator = request.getfixturevalue("firestore_emulator_clean")

        def make() -> LockStore:
            backend = FirestoreLockStore(project=emulator.project, timeout_seconds=5.0)
            made.append(backend)
            return backend
    else:
        path = tmp_path / "locks.sqlite"

        def make() -> LockStore:
            backend = SQLiteLockStore(path)
            made.append(backend)
            return backend

    yield make
    for backend in made:
        backend.close()


@pytest.fixture
def backend(backend_factory) -> LockStore:
    return backend_factory()


@pytest.fixture
def make_lock(backend_factory) -> Callable[..., PartitionLock]:
    """A PartitionLock with test-sized timings (each on its own backend instance by default)."""

    def make(backend: LockStore | None = None, **kwargs) -> PartitionLock:
        settings = {"lease_seconds": 2.0, "poll_interval_seconds": 0.02, "max_wait_seconds": 5.0}
        settings.update(kwargs)
        return PartitionLock(backend or backend_factory(), **settings)

    return make


def take(store: LockStore, game_date: str, lease_seconds: float, holder_id: str | None = None,
         operation_id: str = "op") -> LockRecord:
    """One date taken straight on the store (a holder that will never renew: a crashed run)."""
    attempt = store.acquire("grading", [game_date], holder_id or make_holder_id("crashed", None), [operation_id],
                            lease_seconds)
    assert attempt.acquired, attempt
    return attempt.records[0]

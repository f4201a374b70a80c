"""Several processes opening a brand-new SQLite lock file at the same instant (the first runs on a
fresh machine): switching the file to WAL answered "database is locked" at once to all but one of
them, which failed the run (seen in CI). Now every process waits its turn."""

from __future__ import annotations

import multiprocessing
import time

from grading_pipeline.locks import PartitionLock, SQLiteLockStore

PROCESSES = 6
ROUNDS = 8


def hold_once(path: str, start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))
    lock = PartitionLock(SQLiteLockStore(path), max_wait_seconds=30, poll_interval_seconds=0.01, lease_seconds=30)
    with lock.hold("grading", "2025-01-01", "first-run"):
        pass


def test_processes_opening_a_new_lock_file_at_once_all_get_the_lock(tmp_path):
    context = multiprocessing.get_context("spawn")
    failed = 0
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"round{round_}" / "locks.sqlite")
        start_at = time.time() + 1.0
        processes = [context.Process(target=hold_once, args=(path, start_at)) for _ in range(PROCESSES)]
        for p in processes:
            p.start()
        for p in processes:
            p.join(60)
        failed += sum(p.exitcode != 0 for p in processes)
    assert failed == 0, f"{failed} of {PROCESSES * ROUNDS} processes failed to open a new lock file"

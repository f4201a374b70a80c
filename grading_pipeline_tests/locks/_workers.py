"""Code run in spawned OS processes by the contention tests (importable by module path)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path


def run_together(target, args_of, processes: int, out: Path, join_timeout: float = 150.0) -> tuple[list, float]:
    """Start `processes` spawned workers `target(*args_of(i, barrier))`, release them together once
    all are ready (the barrier), wait for them, and return (their JSON records from
    out/worker{i}.json, elapsed seconds). Fails if any worker failed."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes + 1)
    procs = [ctx.Process(target=target, args=args_of(i, barrier), name=f"{target.__name__}-{i}")
             for i in range(processes)]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=120)  # everyone imported and connected: start together
        started = time.monotonic()
        for p in procs:
            p.join(timeout=join_timeout)
        elapsed = time.monotonic() - started
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join(5)
    assert [p.exitcode for p in procs] == [0] * processes, "a worker failed (see its stderr)"
    records: list = []
    for i in range(processes):
        records.extend(json.loads((out / f"worker{i}.json").read_text()))
    return records, elapsed


def read_counter(path: Path) -> int:
    return int(path.read_text())


def write_counter(path: Path, value: int) -> None:
    # Atomic replace, so an unlocked reader never sees a half-written file (only stale values).
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(str(value))
    os.replace(tmp, path)


def increment_worker(
    worker: int,
    counter: str,
    out_dir: str,
    rounds: int,
    backend_kind: str | None,
    backend_arg: str | None,
    barrier,
    race_window_seconds: float,
) -> None:
    """``rounds`` read-sleep-write increments of a plain file, under the lock when
    ``backend_kind`` is set (``sqlite`` + path, or ``firestore`` + project), else unlocked."""
    counter_path = Path(counter)
    records: list[tuple[int | None, int]] = []
    lock = None
    if backend_kind is not None:
        from grading_pipeline.locks import FirestoreLockStore, PartitionLock, SQLiteLockStore

        backend = (
            SQLiteLockStore(backend_arg)
            if backend_kind == "sqlite"
            else FirestoreLockStore(project=backend_arg, timeout_seconds=10.0)
        )
        backend.get("contention", "2025-01-20")  # warm the connection before the start line
        lock = PartitionLock(
            backend, lease_seconds=10.0, poll_interval_seconds=0.02, max_wait_seconds=120.0
        )
    barrier.wait(timeout=120)
    for i in range(rounds):
        if lock is None:
            value = read_counter(counter_path)
            time.sleep(race_window_seconds)
            write_counter(counter_path, value + 1)
            records.append((None, value))
        else:
            with lock.hold("contention", "2025-01-20", f"worker{worker}-round{i}", step="increment") as (lease,):
                value = read_counter(counter_path)
                time.sleep(race_window_seconds)
                lease.assert_held()
                write_counter(counter_path, value + 1)
                records.append((lease.fencing_token, value))
    Path(out_dir, f"worker{worker}.json").write_text(json.dumps(records))

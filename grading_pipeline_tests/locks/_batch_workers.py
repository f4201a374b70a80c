"""Code run in spawned OS processes by the batch contention test (importable by module path)."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from grading_pipeline_tests.locks._workers import read_counter, write_counter


def batch_increment_worker(
    worker: int,
    counters_dir: str,
    out_dir: str,
    dates: list[str],
    rounds: int,
    backend_kind: str,
    backend_arg: str,
    barrier,
    race_window_seconds: float,
) -> None:
    """``rounds`` times: hold a random run of consecutive ``dates`` and do a
    read-sleep-write increment of each date's counter file under its lease."""
    from grading_pipeline.locks import FirestoreLockStore, PartitionLock, SQLiteLockStore

    rng = random.Random(1000 + worker)
    backend = (
        SQLiteLockStore(backend_arg)
        if backend_kind == "sqlite"
        else FirestoreLockStore(project=backend_arg, timeout_seconds=10.0)
    )
    backend.get("batch", dates[0])  # warm the connection before the start line
    lock = PartitionLock(backend, lease_seconds=10.0, poll_interval_seconds=0.02,
                         max_wait_seconds=60.0)
    records: list[tuple[str, int, int]] = []  # (date, fencing token, value read)
    barrier.wait(timeout=120)
    for i in range(rounds):
        size = rng.randint(1, 4)
        first = rng.randint(0, len(dates) - size)
        chosen = dates[first:first + size]
        with lock.hold("batch", chosen, lambda d: f"worker{worker}-round{i}-{d}",
                            step="increment") as leases:
            values = {d: read_counter(Path(counters_dir, d)) for d in chosen}
            time.sleep(race_window_seconds)
            for lease in leases:
                lease.assert_held()
                write_counter(Path(counters_dir, lease.game_date), values[lease.game_date] + 1)
                records.append((lease.game_date, lease.fencing_token, values[lease.game_date]))
    backend.close()
    Path(out_dir, f"worker{worker}.json").write_text(json.dumps(records))

"""Latency of uncontended acquire / release on a backend (``bench_lock(backend, n)``) and of
batches of dates (``bench_batch(backend, n, dates=31)``: ``hold_many`` against one ``hold`` per
date, as a range backfill's batch of up to 31 dates would take them).

``python -m grading_pipeline.locks.bench sqlite /tmp/bench.sqlite 200 [batches]``
``FIRESTORE_EMULATOR_HOST=127.0.0.1:8080 python -m grading_pipeline.locks.bench firestore demo 200``
"""

from __future__ import annotations

import json
import datetime as dt
import statistics
import sys
import time
from contextlib import ExitStack
from typing import Any

from .lease import LockBackend
from .partition_lock import PartitionLock, make_holder_id


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(_pct(ms, 0.95), 3),
        "max_ms": round(max(ms), 3),
    }


def bench_lock(backend: LockBackend, n: int = 200, lock_type: str = "bench") -> dict[str, Any]:
    """Time ``n`` uncontended acquire + release cycles on one lock (after 5 warm-up cycles):
    the backend calls alone, and a full ``PartitionLock.hold`` (includes the renewal thread)."""
    date = "2000-01-01"
    acquire_ms: list[float] = []
    release_ms: list[float] = []
    for i in range(n + 5):
        holder = make_holder_id("bench", "bench")
        t0 = time.perf_counter()
        attempt = backend.try_acquire(lock_type, date, holder, "bench", 60.0)
        t1 = time.perf_counter()
        assert attempt.acquired and attempt.record is not None
        backend.release(lock_type, date, holder, attempt.record.fencing_token,
                        version=attempt.record.version, operation_id="bench")
        t2 = time.perf_counter()
        if i >= 5:
            acquire_ms.append((t1 - t0) * 1000)
            release_ms.append((t2 - t1) * 1000)
    lock = PartitionLock(backend, lease_seconds=60, poll_interval_seconds=0.01, max_wait_seconds=5)
    hold_ms: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        with lock.hold(lock_type, date, "bench"):
            pass
        hold_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "backend": backend.name,
        "n": n,
        "acquire": _summary(acquire_ms),
        "release": _summary(release_ms),
        "hold_cycle": _summary(hold_ms),
    }


def _per_date(ms: list[float], dates: int) -> dict[str, float]:
    return {k: round(v / dates, 4) for k, v in _summary(ms).items()}


def bench_batch(
    backend: LockBackend, n: int = 50, dates: int = 31, lock_type: str = "bench"
) -> dict[str, Any]:
    """Time ``n`` uncontended cycles over ``dates`` consecutive dates (after 3 warm-up cycles):
    ``PartitionLock.hold_many`` (acquire all + one renewal thread + release all), its backend
    calls alone (``try_acquire_many`` / ``release_many``), and, for comparison, one
    ``PartitionLock.hold`` per date entered through an ExitStack (what a batch cost before)."""
    days = [(dt.date(2000, 1, 1) + dt.timedelta(days=i)).isoformat() for i in range(dates)]
    lock = PartitionLock(backend, lease_seconds=60, poll_interval_seconds=0.01, max_wait_seconds=5)
    acquire_ms: list[float] = []
    release_ms: list[float] = []
    for i in range(n + 3):
        holder = make_holder_id("bench", "bench")
        t0 = time.perf_counter()
        attempt = backend.try_acquire_many(lock_type, days, holder, ["bench"] * dates, 60.0)
        t1 = time.perf_counter()
        assert attempt.acquired and len(attempt.records) == dates
        released = backend.release_many(
            lock_type, [(r.game_date, r.fencing_token, r.version, "bench") for r in attempt.records],
            holder,
        )
        t2 = time.perf_counter()
        assert all(released)
        if i >= 3:
            acquire_ms.append((t1 - t0) * 1000)
            release_ms.append((t2 - t1) * 1000)
    many_ms: list[float] = []
    for i in range(n + 3):
        t0 = time.perf_counter()
        with lock.hold_many(lock_type, days, "bench") as leases:
            assert len(leases) == dates
        if i >= 3:
            many_ms.append((time.perf_counter() - t0) * 1000)
    singles_ms: list[float] = []
    for i in range(max(3, n // 5) + 1):
        t0 = time.perf_counter()
        with ExitStack() as stack:
            for day in days:
                stack.enter_context(lock.hold(lock_type, day, "bench"))
        if i >= 1:
            singles_ms.append((time.perf_counter() - t0) * 1000)
    return {
        "backend": backend.name,
        "n": n,
        "dates_per_batch": dates,
        "hold_many_per_batch": _summary(many_ms),
        "hold_many_per_date": _per_date(many_ms, dates),
        "try_acquire_many_per_batch": _summary(acquire_ms),
        "release_many_per_batch": _summary(release_ms),
        "hold_per_date_x31_per_batch": _summary(singles_ms),
        "hold_per_date_x31_per_date": _per_date(singles_ms, dates),
        "speedup_p50": round(statistics.median(singles_ms) / statistics.median(many_ms), 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    kind, target, n = args[0], args[1], int(args[2]) if len(args) > 2 else 200
    batches = int(args[3]) if len(args) > 3 else 50
    if kind == "sqlite":
        from .sqlite_backend import SQLiteLockBackend

        backend: LockBackend = SQLiteLockBackend(target)
    else:
        from .firestore_backend import FirestoreLockBackend

        backend = FirestoreLockBackend(project=target)
    try:
        print(json.dumps(bench_lock(backend, n), indent=2))
        print(json.dumps(bench_batch(backend, batches), indent=2))
    finally:
        backend.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

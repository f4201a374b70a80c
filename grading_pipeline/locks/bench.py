"""Latency of uncontended acquire / release on a backend (``bench_lock(backend, n)``).

``python -m grading_pipeline.locks.bench sqlite /tmp/bench.sqlite 200``
``FIRESTORE_EMULATOR_HOST=127.0.0.1:8080 python -m grading_pipeline.locks.bench firestore demo 200``
"""

from __future__ import annotations

import json
import statistics
import sys
import time
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


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    kind, target, n = args[0], args[1], int(args[2]) if len(args) > 2 else 200
    if kind == "sqlite":
        from .sqlite_backend import SQLiteLockBackend

        backend: LockBackend = SQLiteLockBackend(target)
    else:
        from .firestore_backend import FirestoreLockBackend

        backend = FirestoreLockBackend(project=target)
    try:
        print(json.dumps(bench_lock(backend, n), indent=2))
    finally:
        backend.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

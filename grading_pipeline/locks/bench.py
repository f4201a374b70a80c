"""Latency of uncontended lock cycles on a store, for `grading-pipeline bench`: the store's own
acquire and release calls for one date, a full ``PartitionLock.hold`` of one date (with its renewal
thread), and a hold of a batch of 31 dates (what a range run takes per store call)."""

from __future__ import annotations

import datetime as dt
import statistics
import time
from typing import Any, Callable

from .lease import make_holder_id
from .policy import PartitionLock
from .store import LockStore

BATCH_DATES = 31


def _summary(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"p50_ms": round(statistics.median(ordered), 3),
            "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 3),
            "max_ms": round(ordered[-1], 3)}


def _timed(n: int, cycle: Callable[[], None], warm_up: int = 5) -> list[float]:
    out = []
    for i in range(n + warm_up):
        started = time.perf_counter()
        cycle()
        if i >= warm_up:
            out.append((time.perf_counter() - started) * 1000)
    return out


def bench_lock(store: LockStore, n: int = 200, lock_type: str = "bench") -> dict[str, Any]:
    date = "2000-01-01"
    batch = [(dt.date(2000, 2, 1) + dt.timedelta(days=i)).isoformat() for i in range(BATCH_DATES)]
    acquire_ms: list[float] = []
    release_ms: list[float] = []

    def store_cycle() -> None:
        holder = make_holder_id("bench", "bench")
        started = time.perf_counter()
        taken = store.acquire(lock_type, [date], holder, ["bench"], 60.0)
        acquired = time.perf_counter()
        assert taken.acquired and store.release(lock_type, [(date, taken.records[0].fencing_token)], holder) == [True]
        acquire_ms.append((acquired - started) * 1000)
        release_ms.append((time.perf_counter() - acquired) * 1000)

    _timed(n, store_cycle)
    lock = PartitionLock(store, lease_seconds=60, poll_interval_seconds=0.01, max_wait_seconds=5)

    def hold(dates: list[str]) -> Callable[[], None]:
        def cycle() -> None:
            with lock.hold(lock_type, dates, "bench"):
                pass
        return cycle

    return {"backend": store.name, "n": n, "acquire": _summary(acquire_ms[5:]), "release": _summary(release_ms[5:]),
            "hold_cycle": _summary(_timed(n, hold([date]))),
            "hold_batch_of_31": _summary(_timed(max(5, n // 10), hold(batch), warm_up=2))}

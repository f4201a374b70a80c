"""Holding the partition locks of every date a run writes, before the warehouse is opened.

Locks are taken table by table in dependency order (grading, then daily_performance) and, within a
table, in date order, in batches of one backend call each: two runs always take their locks in the
same global order, so they never wait for each other in a cycle. The warehouse is opened only once
every lock is held: DuckDB lets one process at a time open its file, and a run waiting for a lock
while holding the file could deadlock with the holder.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.tables import GradedTable
from grading_pipeline.warehouse.base import Fence

# Dates per backend call (one SQLite transaction / one Firestore WriteBatch, 500 writes at most).
LOCK_BATCH_DATES = 31


@dataclass
class HeldDates:
    """The leases of a run's dates, per table: the fences its write must hold, and each date's lock
    figures for the materialization metadata."""

    fences: dict[str, list[Fence]] = field(default_factory=dict)  # table -> fences, date order
    lock_metadata: dict[str, dict[dt.date, dict[str, Any]]] = field(default_factory=dict)
    leases: list[Any] = field(default_factory=list)

    def assert_held(self) -> None:
        """Right before the write: every lease still ours (a lost one raises LockLostError)."""
        for lease in self.leases:
            lease.assert_held()


def _chunks(dates: Sequence[dt.date], size: int) -> list[Sequence[dt.date]]:
    return [dates[i : i + size] for i in range(0, len(dates), size)]


@contextmanager
def hold_dates(
    lock: PartitionLockResource,
    tables: Sequence[GradedTable],
    dates: Sequence[dt.date] | Mapping[str, Sequence[dt.date]],
    run_id: str,
    step: str,
    log: logging.Logger | Any,
) -> Iterator[HeldDates]:
    """`dates`: the same for every table, or each table's (table name -> dates)."""
    held = HeldDates()
    with ExitStack() as stack:
        for table in tables:
            held.fences[table.name] = []
            held.lock_metadata[table.name] = {}
            table_dates = dates[table.name] if isinstance(dates, Mapping) else dates
            for chunk in _chunks(list(table_dates), LOCK_BATCH_DATES):
                leases = stack.enter_context(lock.hold(
                    table.lock_type, chunk, operation_id=lambda day, lock_type=table.lock_type: f"{lock_type}_{day}:{run_id}",
                    run_id=run_id, step=step,
                ))
                for game_date, lease in zip(chunk, leases):
                    held.leases.append(lease)
                    held.lock_metadata[table.name][game_date] = _lock_figures(lease)
                    if lease.locked:
                        held.fences[table.name].append(Fence(table.lock_type, game_date, lease.fencing_token, lease.holder_id))
                    else:
                        log.warning(f"{table.lock_type} {game_date}: writing WITHOUT a lock ({lease.unlocked_reason})")
        yield held


def _lock_figures(lease: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "lock_held": bool(lease.locked),
        "lock_wait_seconds": round(lease.wait_seconds, 4),
        "lock_attempts": lease.attempts,
    }
    if lease.locked:
        figures["lock_fencing_token"] = lease.fencing_token
        figures["lock_holder"] = lease.holder_id
        if lease.took_over_from:
            figures["lock_took_over_from"] = lease.took_over_from
    else:
        figures["lock_unlocked_reason"] = lease.unlocked_reason
    return figures

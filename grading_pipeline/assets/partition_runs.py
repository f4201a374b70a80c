"""What both assets share: writing the dates of a run under their locks, and reporting per-date
figures the way Dagster can plot them.

A run's dates (one for a single-partition run, a range for a single-run backfill) are written in
batches of consecutive dates. The locks of every date are taken first (batch by batch, in date
order, so two runs never deadlock), then each batch's fences are claimed and the batch is replaced
in ONE transaction: atomic for each date and for the batch. A batch fails or commits as a whole;
Dagster books a single-run backfill the same way (all its partitions succeed or fail together).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue

from grading_pipeline.grading import parse_game_date
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.warehouse.base import Fence, PartitionWrite, Warehouse, WarehouseSession

DateMetadata = dict[str, Any]
# Writes (session, first date, last date, fences) -> per-date metadata.
BatchWriter = Callable[[WarehouseSession, dt.date, dt.date, Sequence[Fence]], dict[dt.date, DateMetadata]]
DEFAULT_DATES_PER_TRANSACTION = 31


def run_dates(context: AssetExecutionContext) -> list[dt.date]:
    """The dates of this run: one for a single-partition run, several for a single-run backfill."""
    return [parse_game_date(key) for key in context.partition_keys]


def batches(dates: list[dt.date], size: int) -> list[list[dt.date]]:
    size = max(1, size)
    return [dates[i : i + size] for i in range(0, len(dates), size)]


@contextmanager
def locked_dates(
    context: AssetExecutionContext,
    lock: PartitionLockResource,
    lock_type: str,
    dates: list[dt.date],
) -> Iterator[tuple[list[Any], list[Fence], dict[dt.date, DateMetadata]]]:
    """Hold the (lock_type, date) lease of every date around a write; yields the leases, the fences
    the write must check and each date's lock metadata."""
    metadata: dict[dt.date, DateMetadata] = {}
    fences: list[Fence] = []
    run_id = context.run.run_id
    with lock.hold_many(
        lock_type,
        dates,
        operation_id=lambda day: f"{lock_type}_{day}:{run_id}",
        run_id=run_id,
        step=getattr(context, "op_execution_context", context).op_def.name,
    ) as leases:
        for game_date, lease in zip(dates, leases):
            meta: DateMetadata = {
                "lock_held": bool(lease.locked),
                "lock_wait_seconds": round(lease.wait_seconds, 4),
                "lock_attempts": lease.attempts,
            }
            if lease.locked:
                meta["lock_fencing_token"] = lease.fencing_token
                meta["lock_holder"] = lease.holder_id
                if lease.took_over_from:
                    meta["lock_took_over_from"] = lease.took_over_from
                fences.append(Fence(lock_type, game_date, lease.fencing_token, lease.holder_id))
            else:
                meta["lock_unlocked_reason"] = lease.unlocked_reason
                context.log.warning(f"{lock_type} {game_date}: writing WITHOUT a lock ({lease.unlocked_reason})")
            metadata[game_date] = meta
        yield leases, fences, metadata


def write_batches(
    context: AssetExecutionContext,
    lock: PartitionLockResource,
    warehouse: Warehouse,
    table: str,
    lock_type: str,
    dates: list[dt.date],
    dates_per_transaction: int,
    write: BatchWriter,
) -> dict[dt.date, DateMetadata]:
    """Lock every batch (in date order), then connect once, then write batch after batch, each in
    its own transaction. The warehouse is opened only once all the locks are held: a process
    waiting for a partition lock never holds the warehouse (DuckDB lets one process at a time open
    its file; holding it while waiting could deadlock two runs), and taking locks in date order
    means two runs never wait for each other in a cycle."""
    per_date: dict[dt.date, DateMetadata] = {}
    with ExitStack() as stack:
        held = [
            (batch, *stack.enter_context(locked_dates(context, lock, lock_type, batch)))
            for batch in batches(dates, dates_per_transaction)
        ]
        with warehouse.session() as session:
            for batch, leases, fences, lock_metadata in held:
                # Claimed as soon as the locks are held: a holder whose lease ran out can no
                # longer commit, even before its successor writes anything.
                session.claim_fences(table, fences)
                for lease in leases:
                    lease.assert_held()
                written = write(session, batch[0], batch[-1], fences)
                for game_date in batch:
                    per_date[game_date] = {**written.get(game_date, {}), **lock_metadata[game_date]}
    return per_date


def write_metadata(write: PartitionWrite, game_date: dt.date) -> DateMetadata:
    """The write's figures for one date (zeros for a date without rows)."""
    summary = {k: v for k, v in write.per_date.get(game_date, {}).items() if k != "game_date" and v is not None}
    return {
        "rows_replaced": write.rows_replaced.get(game_date, 0),
        "batch_write_seconds": round(write.seconds, 4),
        **summary,
    }


def materialize_result(
    per_date: dict[dt.date, DateMetadata],
    totals: Callable[[list[DateMetadata]], DateMetadata],
    started: float,
) -> MaterializeResult:
    """A single date's figures become the materialization's metadata (plottable across partitions).
    Dagster gives every partition of a range run the same metadata, so a range run records the
    range's totals (`range_*`) and a per-date table instead. (Per-date observations were measured
    at ~1 s of event-log writes per 180-date backfill, a third of the run: left out.)"""
    seconds = round(time.perf_counter() - started, 4)
    dates = sorted(per_date)
    if len(dates) == 1:
        return MaterializeResult(metadata={**per_date[dates[0]], "seconds": seconds})
    rows = [per_date[d] for d in dates]
    return MaterializeResult(
        metadata={
            **{f"range_{k}": v for k, v in totals(rows).items()},
            "range_dates": len(dates),
            "range_first_date": dates[0].isoformat(),
            "range_last_date": dates[-1].isoformat(),
            "seconds": seconds,
            "per_date": MetadataValue.md(_markdown_table(dates, rows)),
            **_unlocked(dates, rows),
        }
    )


def _unlocked(dates: list[dt.date], rows: list[DateMetadata]) -> DateMetadata:
    """Dates of a range written without their lock, with the reason (read by the alert sensor)."""
    unlocked = {str(d): r.get("lock_unlocked_reason") for d, r in zip(dates, rows) if not r.get("lock_held", True)}
    return {"range_unlocked_dates": MetadataValue.json(unlocked)} if unlocked else {}


def sum_of(rows: list[DateMetadata], name: str) -> float:
    return sum(r.get(name) or 0 for r in rows)


def _markdown_table(dates: list[dt.date], rows: list[DateMetadata]) -> str:
    columns = list(dict.fromkeys(c for r in rows for c in r if c != "lock_holder"))
    lines = ["| game_date | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for game_date, row in zip(dates, rows):
        lines.append(f"| {game_date} | " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)

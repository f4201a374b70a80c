"""What both assets share: walking the dates of a run, each under its own lock and atomic write,
and reporting per-date figures the way Dagster can plot them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dagster import AssetExecutionContext, AssetObservation, MaterializeResult, MetadataValue

from grading_pipeline.grading import parse_game_date
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.warehouse.base import Fence, PartitionWrite, WarehouseSession

DateMetadata = dict[str, Any]


def run_dates(context: AssetExecutionContext) -> list[dt.date]:
    """The dates of this run: one for a single-partition run, several for a single-run backfill."""
    return [parse_game_date(key) for key in context.partition_keys]


@contextmanager
def locked_partition(
    context: AssetExecutionContext,
    lock: PartitionLockResource,
    session: WarehouseSession,
    table: str,
    lock_type: str,
    game_date: dt.date,
) -> Iterator[tuple[Fence | None, DateMetadata]]:
    """Hold the (lock_type, date) lease around a write; yields the write's fence and lock metadata.

    The fence is claimed in the warehouse as soon as the lock is taken, so a holder whose lease
    ran out can no longer commit even before its successor writes."""
    started = time.perf_counter()
    with lock.hold(
        lock_type,
        game_date.isoformat(),
        operation_id=f"{lock_type}_{game_date.isoformat()}:{context.run_id}",
        run_id=context.run_id,
        step=context.op_handle.name if hasattr(context, "op_handle") else None,
    ) as lease:
        metadata: DateMetadata = {
            "lock_held": bool(lease.locked),
            "lock_wait_seconds": round(lease.wait_seconds, 4),
            "lock_attempts": lease.attempts,
        }
        if lease.locked:
            metadata["lock_fencing_token"] = lease.fencing_token
            metadata["lock_holder"] = lease.holder_id
            if lease.took_over_from:
                metadata["lock_took_over_from"] = lease.took_over_from
            fence = Fence(lock_type, lease.fencing_token, lease.holder_id)
            session.claim_fence(table, game_date, fence)
        else:
            metadata["lock_unlocked_reason"] = lease.unlocked_reason
            context.log.warning(f"{lock_type} {game_date}: writing WITHOUT a lock ({lease.unlocked_reason})")
            fence = None
        lease.assert_held()
        yield fence, metadata
    metadata["lock_seconds"] = round(time.perf_counter() - started, 4)


def write_metadata(write: PartitionWrite) -> DateMetadata:
    return {
        "rows_replaced": write.rows_replaced,
        "rows_written": write.rows_written,
        "write_seconds": round(write.seconds, 4),
        **{k: v for k, v in write.summary.items() if v is not None},
    }


def materialize_dates(
    context: AssetExecutionContext,
    warehouse_session: WarehouseSession,
    dates: list[dt.date],
    grade_one: Callable[[WarehouseSession, dt.date], DateMetadata],
    totals: Callable[[list[DateMetadata]], DateMetadata],
) -> MaterializeResult:
    """Run `grade_one` for each date in turn. A single date's figures become the materialization's
    metadata; in a range run each date's figures are recorded as an observation of its partition
    (Dagster gives every partition of a range the same materialization metadata), and the
    materialization carries the range's totals."""
    started = time.perf_counter()
    per_date: list[DateMetadata] = []
    for game_date in dates:
        metadata = grade_one(warehouse_session, game_date)
        per_date.append(metadata)
        if len(dates) > 1:
            context.log_event(
                AssetObservation(asset_key=context.asset_key, partition=game_date.isoformat(), metadata=metadata)
            )
    seconds = round(time.perf_counter() - started, 4)
    if len(dates) == 1:
        return MaterializeResult(metadata={**per_date[0], "seconds": seconds})
    summary = {f"range_{k}": v for k, v in totals(per_date).items()}
    return MaterializeResult(
        metadata={
            **summary,
            "range_dates": len(dates),
            "range_first_date": dates[0].isoformat(),
            "range_last_date": dates[-1].isoformat(),
            "seconds": seconds,
            "per_date": MetadataValue.md(_markdown_table(dates, per_date)),
        }
    )


def _markdown_table(dates: list[dt.date], rows: list[DateMetadata]) -> str:
    columns = [c for c in rows[0] if not str(c).startswith("lock_holder")] if rows else []
    lines = ["| game_date | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for game_date, row in zip(dates, rows):
        lines.append(f"| {game_date} | " + " | ".join(str(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)

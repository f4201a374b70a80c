"""The daily duplicate sweep (the old platform's "Check 8"): no duplicate business key in
prediction_accuracy over the last N days. An asset check with a job and schedule of its own, and
`grading-pipeline sweep` for deployment gates; both run the duplicate audit's query.

The partition checks are the audits of :mod:`grading_pipeline.audits`, evaluated on the new rows
inside each write (see :mod:`grading_pipeline.assets.graded_tables`).
"""


import datetime as dt
from dataclasses import dataclass

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, Config, MetadataValue, asset_check
from pydantic import Field

from grading_pipeline.audits import NO_DUPLICATE_BUSINESS_KEYS, as_date, plain
from grading_pipeline.sql_catalog import business_key
from grading_pipeline.tables import PREDICTION_ACCURACY
from grading_pipeline.warehouse.base import Warehouse, WarehouseSession

NO_DUPLICATES_IN_RECENT_DAYS = "no_duplicates_in_recent_days"
SAMPLE_SIZE = 20


def range_label(start: dt.date, end: dt.date) -> str:
    return start.isoformat() if start == end else f"{start}..{end}"


def sweep_window(days: int, end: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The `days` days ending on `end` (default: yesterday, UTC). Fewer than one day checks nothing:
    an error, never an OK."""
    if days < 1:
        raise ValueError(f"the sweep needs a window of at least one day, not {days}")
    last = end or dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    return last - dt.timedelta(days=days - 1), last


@dataclass(frozen=True)
class Sweep:
    start: dt.date
    end: dt.date
    per_date: dict[dt.date, tuple[int, int]]  # date -> (duplicate keys, extra rows); clean dates absent
    sample: list[dict]  # the worst keys over the window

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def duplicate_keys(self) -> int:
        return sum(keys for keys, _ in self.per_date.values())

    @property
    def extra_rows(self) -> int:
        return sum(extra for _, extra in self.per_date.values())


def sweep(session: WarehouseSession, start: dt.date, end: dt.date, sample_size: int = SAMPLE_SIZE) -> Sweep:
    rows = session.query(NO_DUPLICATE_BUSINESS_KEYS.sql, {"start_date": start, "end_date": end, "sample_size": sample_size})
    per_date = {as_date(r["game_date"]): (int(r["duplicate_keys"]), int(r["extra_rows"])) for r in rows}
    worst = sorted(rows, key=lambda r: (-r["copies"], str(r["game_date"])))[:sample_size]
    sample = [{c: plain(r.get(c)) for c in (*business_key(), "copies", "first_graded_at", "last_graded_at")} for r in worst]
    return Sweep(start, end, dict(sorted(per_date.items())), sample)


class SweepConfig(Config):
    days: int = Field(default=7, ge=1, description="How many days back from yesterday (UTC) to sweep.")


@asset_check(
    asset=PREDICTION_ACCURACY.asset_key,
    name=NO_DUPLICATES_IN_RECENT_DAYS,
    description="The daily sweep (the old 'Check 8'): no duplicate business key in the last N days.",
)
def no_duplicates_in_recent_days(
    context: AssetCheckExecutionContext, config: SweepConfig, warehouse: Warehouse
) -> AssetCheckResult:
    start, end = sweep_window(config.days)
    with warehouse.session(read_only=True) as session:
        found = sweep(session, start, end)
    return AssetCheckResult(
        passed=found.duplicate_keys == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "game_date": range_label(start, end),
            "duplicate_keys": found.duplicate_keys,
            "extra_rows": found.extra_rows,
            "per_date": MetadataValue.json({str(d): keys for d, (keys, _) in found.per_date.items()}),
            "sample_keys": MetadataValue.json(found.sample),
        },
    )

"""The audits of the graded tables: each write runs them on its new rows inside its own transaction,
before COMMIT (write, audit, publish), and the asset checks run the same queries on the stored rows
when they are re-run on their own. Engine- and Dagster-agnostic.

An audit is a query of `sql/checks/` over a date range that returns what is wrong: for a blocking
audit, any row means failure, and the transaction is rolled back (the rule of
`warehouse.base.blocking_failures`, which BigQuery applies inside its transaction script). Each audit then judges each date of the range
on that date's rows, into a finding: passed or not, a severity, and metadata to act on.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from grading_pipeline.sql_catalog import business_key
from grading_pipeline.tables import PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE, SYSTEM_SCORECARD, GradedTable

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class AuditSettings:
    """What the audits may be tuned with (run config of the grading step)."""

    coverage_warn_below: float = 0.90
    coverage_error_below: float = 0.80
    sample_size: int = 20


@dataclass(frozen=True)
class Finding:
    """One audit's verdict on one date."""

    passed: bool
    severity: str = "ERROR"  # "ERROR" or "WARN" (Dagster's AssetCheckSeverity values)
    metadata: dict[str, Any] = field(default_factory=dict)
    description: str | None = None


@dataclass(frozen=True)
class Audit:
    name: str
    table: GradedTable
    sql: str
    blocking: bool
    description: str
    judge: Callable[[Rows, AuditSettings], Finding]
    params: Callable[[AuditSettings], dict[str, Any]] = lambda settings: {}

    def findings(self, rows: Rows, dates: Iterable[dt.date], settings: AuditSettings) -> dict[dt.date, Finding]:
        by_date: dict[dt.date, Rows] = defaultdict(list)
        for row in rows:
            by_date[as_date(row["game_date"])].append(row)
        return {day: self.judge(by_date.get(day, []), settings) for day in dates}


def as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def plain(value: Any) -> Any:
    """A warehouse value as Dagster metadata and JSON take it."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _sample(rows: Rows, columns: Sequence[str], limit: int) -> str:
    return json.dumps([{c: plain(r.get(c)) for c in columns} for r in rows[:limit]])


# -- the judges ----------------------------------------------------------------------------------


def _no_duplicates(rows: Rows, settings: AuditSettings) -> Finding:
    key = business_key()
    if not rows:
        return Finding(True, metadata={"duplicate_keys": 0, "extra_rows": 0})
    duplicate_keys, extra_rows = int(rows[0]["duplicate_keys"]), int(rows[0]["extra_rows"])
    return Finding(
        False,
        metadata={
            "duplicate_keys": duplicate_keys,
            "extra_rows": extra_rows,
            "business_key": ", ".join(key),
            "sample_keys": _sample(rows, [*key, "copies", "first_graded_at", "last_graded_at"], settings.sample_size),
        },
        description=f"{duplicate_keys} duplicate business keys ({extra_rows} extra rows)",
    )


def _match_source(rows: Rows, settings: AuditSettings) -> Finding:
    if not rows:
        return Finding(True)
    (row,) = rows
    eligible, graded = int(row["eligible_keys"]), int(row["graded_rows"])
    return Finding(
        False, metadata={"eligible_keys": eligible, "graded_rows": graded},
        description=f"{graded} graded rows for {eligible} eligible source business keys",
    )


def _values_sane(rows: Rows, settings: AuditSettings) -> Finding:
    if not rows:
        return Finding(True)
    (row,) = rows
    broken = {rule: int(count) for rule, count in row.items() if rule != "game_date" and count}
    return Finding(False, metadata=broken, description="rows break: " + ", ".join(f"{r} ({n})" for r, n in broken.items()))


def _coverage(rows: Rows, settings: AuditSettings) -> Finding:
    if not rows:
        return Finding(True, metadata={"graded_rows": 0})
    (row,) = rows
    coverage = float(row["coverage"])
    metadata = {
        "coverage": coverage,
        "graded_rows": int(row["graded_rows"]),
        "rows_without_actuals": int(row["graded_rows"]) - int(row["rows_with_actuals"]),
    }
    if coverage >= settings.coverage_warn_below:
        return Finding(True, metadata=metadata)
    severity = "ERROR" if coverage < settings.coverage_error_below else "WARN"
    return Finding(False, severity, metadata, f"only {coverage:.1%} of graded rows found a box score")


def _one_row_per_system(rows: Rows, settings: AuditSettings) -> Finding:
    if not rows:
        return Finding(True)
    return Finding(
        False, metadata={"duplicate_pairs": len(rows), "sample": _sample(rows, ["system_id", "copies"], settings.sample_size)},
        description=f"{len(rows)} systems with more than one row",
    )


def _counts_agree(rows: Rows, settings: AuditSettings) -> Finding:
    if not rows:
        return Finding(True)
    columns = [c for c in rows[0] if c != "game_date"]
    return Finding(
        False, metadata={"disagreeing_pairs": len(rows), "sample": _sample(rows, columns, settings.sample_size)},
        description=f"{len(rows)} systems whose counts differ from prediction_accuracy",
    )


def _under_latest_fence(rows: Rows, settings: AuditSettings) -> Finding:
    if not rows:
        return Finding(True, metadata={"stale_rows": 0})
    (row,) = rows
    written_under = ", ".join(sorted(row["written_under"]))
    metadata = {"stale_rows": int(row["stale_rows"]), "written_under": written_under}
    if row["latest_token"] is not None:
        metadata.update(latest_fencing_token=int(row["latest_token"]), latest_holder=row["latest_holder"])
    return Finding(
        False, metadata=metadata,
        description=f"{metadata['stale_rows']} rows not written by the date's latest locked write "
                    f"(token {row['latest_token']}): {written_under}",
    )


NO_DUPLICATE_BUSINESS_KEYS = Audit(
    "no_duplicate_business_keys", PREDICTION_ACCURACY, "checks/duplicate_business_keys.sql", blocking=True,
    description="No business key (sql/macros/business_key.sql: game_date, player_lookup, game_id, system_id, "
    "line_value) has two rows; NULL is a value.",
    judge=_no_duplicates, params=lambda settings: {"sample_size": settings.sample_size},
)
GRADED_ROWS_MATCH_SOURCE = Audit(
    "graded_rows_match_source", PREDICTION_ACCURACY, "checks/graded_rows_match_source.sql", blocking=True,
    description="One graded row per eligible source business key, for every date.",
    judge=_match_source,
)
VALUES_ARE_SANE = Audit(
    "values_are_sane", PREDICTION_ACCURACY, "checks/value_sanity.sql", blocking=True,
    description="absolute_error >= 0, confidence in [0, 1], deciles 1-10, known recommendations, voids "
    "with a reason, no placeholder line, voids and pushes neither won nor lost.",
    judge=_values_sane,
)
ACTUALS_COVERAGE = Audit(
    "actuals_coverage", PREDICTION_ACCURACY, "checks/actuals_coverage.sql", blocking=False,
    description="Share of graded rows that found a box-score row (WARN below 0.90, ERROR below 0.80; run config).",
    judge=_coverage,
)
ROWS_UNDER_LATEST_FENCE = Audit(
    "rows_under_latest_fence", PREDICTION_ACCURACY, "checks/rows_under_latest_fence.sql", blocking=False,
    description="Every graded row of a date was written by one write, under the fencing token the fence ledger "
    "says last wrote the date: no row of a stale writer (whose lease was taken over) or of an unlocked write. "
    "Rows from before provenance are not judged.",
    judge=_under_latest_fence,
)
ONE_ROW_PER_SYSTEM_AND_DATE = Audit(
    "one_row_per_system_and_date", SYSTEM_DAILY_PERFORMANCE, "checks/performance_duplicates.sql", blocking=True,
    description="(game_date, system_id) is unique.",
    judge=_one_row_per_system,
)
COUNTS_AGREE_WITH_PREDICTION_ACCURACY = Audit(
    "counts_agree_with_prediction_accuracy", SYSTEM_DAILY_PERFORMANCE, "checks/performance_disagreements.sql",
    blocking=True,
    description="Per (date, system): predictions, correct, incorrect and voided counts equal prediction_accuracy's.",
    judge=_counts_agree,
)

def _one_row_per_window(rows: Rows, settings: AuditSettings) -> Finding:
    if not rows:
        return Finding(True)
    return Finding(
        False, metadata={"duplicate_rows": len(rows), "sample": _sample(rows, ["system_id", "window_days", "copies"], settings.sample_size)},
        description=f"{len(rows)} (system, window) with more than one row",
    )


ONE_ROW_PER_SYSTEM_WINDOW_AND_DATE = Audit(
    "one_row_per_system_window_and_date", SYSTEM_SCORECARD, "checks/scorecard_duplicates.sql", blocking=True,
    description="(game_date, system_id, window_days) is unique.",
    judge=_one_row_per_window,
)

AUDITS: tuple[Audit, ...] = (
    NO_DUPLICATE_BUSINESS_KEYS,
    GRADED_ROWS_MATCH_SOURCE,
    VALUES_ARE_SANE,
    ACTUALS_COVERAGE,
    ROWS_UNDER_LATEST_FENCE,
    ONE_ROW_PER_SYSTEM_AND_DATE,
    COUNTS_AGREE_WITH_PREDICTION_ACCURACY,
    ONE_ROW_PER_SYSTEM_WINDOW_AND_DATE,
)
AUDITS_BY_NAME: Mapping[str, Audit] = {a.name: a for a in AUDITS}


def audits_of(tables: Iterable[GradedTable]) -> tuple[Audit, ...]:
    names = {t.name for t in tables}
    return tuple(a for a in AUDITS if a.table.name in names)

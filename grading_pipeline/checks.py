"""Asset checks on the graded tables. Each check covers the dates of the run that evaluates it
(one date, or the range of a single-run backfill) and reads the warehouse, never the run's memory.

Blocking checks on `prediction_accuracy` keep `system_daily_performance` from being built on bad
data: a failure fails the run and skips the downstream asset.
"""

import datetime as dt

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    Config,
    MetadataValue,
    asset_check,
)
from pydantic import Field

from grading_pipeline.assets import prediction_accuracy, system_daily_performance
from grading_pipeline.grading import parse_game_date
from grading_pipeline.partitions import game_date_partitions
from grading_pipeline.warehouse.base import Warehouse, WarehouseSession

NO_DUPLICATE_BUSINESS_KEYS = "no_duplicate_business_keys"
ACTUALS_COVERAGE = "actuals_coverage"
GRADED_ROWS_MATCH_SOURCE = "graded_rows_match_source"
VALUES_ARE_SANE = "values_are_sane"
ONE_ROW_PER_SYSTEM_AND_DATE = "one_row_per_system_and_date"
COUNTS_AGREE_WITH_PREDICTION_ACCURACY = "counts_agree_with_prediction_accuracy"
NO_DUPLICATES_IN_RECENT_DAYS = "no_duplicates_in_recent_days"

DEFAULT_BUSINESS_KEY = ["player_lookup", "game_id", "system_id", "line_value"]
SAMPLE_SIZE = 20


def run_range(context: AssetCheckExecutionContext) -> tuple[dt.date, dt.date]:
    keys = context.partition_keys
    return parse_game_date(keys[0]), parse_game_date(keys[-1])


def range_label(start: dt.date, end: dt.date) -> str:
    return start.isoformat() if start == end else f"{start}..{end}"


def find_duplicates(
    session: WarehouseSession, start: dt.date, end: dt.date, business_key: list[str] | None = None
) -> tuple[int, int, list[dict]]:
    """(duplicate keys, extra rows, up to 20 worst keys) of prediction_accuracy over the dates."""
    sql_name = "checks/duplicate_business_keys.sql"
    params = {"start_date": start, "end_date": end, "sample_size": SAMPLE_SIZE}
    key = business_key or DEFAULT_BUSINESS_KEY
    if key == DEFAULT_BUSINESS_KEY:
        rows = session.query(sql_name, params)
    else:
        rows = session.query_text(_rekeyed(sql_name, key), params)
    if not rows:
        return 0, 0, []
    sample = [
        {**{c: _plain(r.get(c)) for c in key}, "game_date": str(r["game_date"]), "copies": r["copies"],
         "graded_at": [str(t) for t in r["graded_at"]]}
        for r in rows
    ]
    return int(rows[0]["duplicate_keys"]), int(rows[0]["extra_rows"]), sample


def _rekeyed(sql_name: str, key: list[str]) -> str:
    """The duplicate query grouped by another business key (column names checked, never values)."""
    from grading_pipeline.sql_catalog import read_sql

    allowed = set(DEFAULT_BUSINESS_KEY) | {"game_date", "team_abbr", "model_version", "recommendation"}
    unknown = [c for c in key if c not in allowed]
    if unknown:
        raise ValueError(f"business_key columns {unknown} are not allowed (choose from {sorted(allowed)})")
    default = ", ".join(DEFAULT_BUSINESS_KEY)
    return read_sql(sql_name).replace(default, ", ".join(key))


def _plain(value):
    return float(value) if hasattr(value, "as_tuple") else value


class DuplicateCheckConfig(Config):
    business_key: list[str] = Field(
        default=DEFAULT_BUSINESS_KEY, description="Columns that identify one graded prediction."
    )


@asset_check(
    asset=prediction_accuracy,
    name=NO_DUPLICATE_BUSINESS_KEYS,
    blocking=True,
    partitions_def=game_date_partitions,
    description="No business key (player_lookup, game_id, system_id, line_value) occurs twice; NULL is a value.",
)
def no_duplicate_business_keys(
    context: AssetCheckExecutionContext, config: DuplicateCheckConfig, warehouse: Warehouse
) -> AssetCheckResult:
    start, end = run_range(context)
    with warehouse.session() as session:
        duplicate_keys, extra_rows, sample = find_duplicates(session, start, end, config.business_key)
    return AssetCheckResult(
        passed=duplicate_keys == 0,
        severity=AssetCheckSeverity.ERROR,
        description=None if not duplicate_keys else
        f"{duplicate_keys} duplicate business keys ({extra_rows} extra rows) in {range_label(start, end)}",
        metadata={
            "game_date": range_label(start, end),
            "business_key": ", ".join(config.business_key),
            "duplicate_keys": duplicate_keys,
            "extra_rows": extra_rows,
            "sample_keys": MetadataValue.json(sample),
        },
    )


class CoverageConfig(Config):
    warn_below: float = Field(default=0.90, description="WARN when fewer graded predictions have an actual.")
    error_below: float = Field(default=0.80, description="ERROR when fewer graded predictions have an actual.")


@asset_check(
    asset=prediction_accuracy,
    name=ACTUALS_COVERAGE,
    partitions_def=game_date_partitions,
    description="Share of graded predictions that found a box-score row (the rest are voided as dnp_unknown).",
)
def actuals_coverage(
    context: AssetCheckExecutionContext, config: CoverageConfig, warehouse: Warehouse
) -> AssetCheckResult:
    start, end = run_range(context)
    with warehouse.session() as session:
        rows = session.query("reports/graded_dates.sql", {"start_date": start, "end_date": end})
    graded = sum(r["rows_graded"] for r in rows)
    with_actuals = sum(r["with_actuals"] for r in rows)
    coverage = with_actuals / graded if graded else 1.0
    worst = min(rows, key=lambda r: r["with_actuals"] / r["rows_graded"], default=None)
    passed = coverage >= config.warn_below
    return AssetCheckResult(
        passed=passed,
        severity=AssetCheckSeverity.ERROR if coverage < config.error_below else AssetCheckSeverity.WARN,
        metadata={
            "game_date": range_label(start, end),
            "coverage": round(coverage, 4),
            "graded_rows": graded,
            "rows_without_actuals": graded - with_actuals,
            **({"worst_date": str(worst["game_date"])} if worst else {}),
        },
    )


@asset_check(
    asset=prediction_accuracy,
    name=GRADED_ROWS_MATCH_SOURCE,
    blocking=True,
    partitions_def=game_date_partitions,
    description="One graded row per eligible source business key, for every date.",
)
def graded_rows_match_source(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
    start, end = run_range(context)
    params = {"start_date": start, "end_date": end}
    with warehouse.session() as session:
        eligible = {r["game_date"]: r["eligible_keys"] for r in session.query("grading/source_health.sql", params)}
        graded = {r["game_date"]: r["rows_graded"] for r in session.query("reports/graded_dates.sql", params)}
    mismatches = {
        str(day): {"eligible_keys": eligible.get(day, 0), "graded_rows": graded.get(day, 0)}
        for day in sorted(set(eligible) | set(graded))
        if eligible.get(day, 0) != graded.get(day, 0)
    }
    return AssetCheckResult(
        passed=not mismatches,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "game_date": range_label(start, end),
            "eligible_keys": sum(eligible.values()),
            "graded_rows": sum(graded.values()),
            "mismatched_dates": MetadataValue.json(mismatches),
        },
    )


@asset_check(
    asset=prediction_accuracy,
    name=VALUES_ARE_SANE,
    blocking=True,
    partitions_def=game_date_partitions,
    description="absolute_error >= 0, confidence in [0, 1], deciles 1-10, known recommendations, voids with a reason.",
)
def values_are_sane(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
    start, end = run_range(context)
    with warehouse.session() as session:
        (violations,) = session.query("checks/value_sanity.sql", {"start_date": start, "end_date": end})
    broken = {rule: int(count or 0) for rule, count in violations.items()}
    return AssetCheckResult(
        passed=not any(broken.values()),
        severity=AssetCheckSeverity.ERROR,
        metadata={"game_date": range_label(start, end), **broken},
    )


@asset_check(
    asset=system_daily_performance,
    name=ONE_ROW_PER_SYSTEM_AND_DATE,
    partitions_def=game_date_partitions,
    description="(game_date, system_id) is unique.",
)
def one_row_per_system_and_date(context: AssetCheckExecutionContext, warehouse: Warehouse) -> AssetCheckResult:
    start, end = run_range(context)
    with warehouse.session() as session:
        rows = session.query("checks/performance_duplicates.sql", {"start_date": start, "end_date": end})
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "game_date": range_label(start, end),
            "duplicate_pairs": len(rows),
            "sample": MetadataValue.json([{**r, "game_date": str(r["game_date"])} for r in rows[:SAMPLE_SIZE]]),
        },
    )


@asset_check(
    asset=system_daily_performance,
    name=COUNTS_AGREE_WITH_PREDICTION_ACCURACY,
    partitions_def=game_date_partitions,
    description="Per (date, system), predictions, correct, incorrect and voided counts equal prediction_accuracy's.",
)
def counts_agree_with_prediction_accuracy(
    context: AssetCheckExecutionContext, warehouse: Warehouse
) -> AssetCheckResult:
    start, end = run_range(context)
    with warehouse.session() as session:
        rows = session.query("checks/performance_disagreements.sql", {"start_date": start, "end_date": end})
    return AssetCheckResult(
        passed=not rows,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "game_date": range_label(start, end),
            "disagreeing_pairs": len(rows),
            "sample": MetadataValue.json([{**r, "game_date": str(r["game_date"])} for r in rows[:SAMPLE_SIZE]]),
        },
    )


class SweepConfig(Config):
    days: int = Field(default=7, description="How many days back from yesterday (UTC) to sweep.")


def sweep_window(days: int, today: dt.date | None = None) -> tuple[dt.date, dt.date]:
    end = (today or dt.datetime.now(dt.timezone.utc).date()) - dt.timedelta(days=1)
    return end - dt.timedelta(days=max(1, days) - 1), end


def duplicates_per_date(session: WarehouseSession, start: dt.date, end: dt.date) -> list[dict]:
    return session.query("reports/duplicate_keys.sql", {"start_date": start, "end_date": end})


@asset_check(
    asset=prediction_accuracy,
    name=NO_DUPLICATES_IN_RECENT_DAYS,
    description="The daily sweep (the old 'Check 8'): no duplicate business key in the last N days.",
)
def no_duplicates_in_recent_days(
    context: AssetCheckExecutionContext, config: SweepConfig, warehouse: Warehouse
) -> AssetCheckResult:
    start, end = sweep_window(config.days)
    with warehouse.session() as session:
        per_date = duplicates_per_date(session, start, end)
        duplicate_keys, extra_rows, sample = find_duplicates(session, start, end)
    return AssetCheckResult(
        passed=duplicate_keys == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "game_date": range_label(start, end),
            "duplicate_keys": duplicate_keys,
            "extra_rows": extra_rows,
            "per_date": MetadataValue.json({str(r["game_date"]): int(r["duplicate_keys"]) for r in per_date}),
            "sample_keys": MetadataValue.json(sample),
        },
    )


partition_checks = [
    no_duplicate_business_keys,
    actuals_coverage,
    graded_rows_match_source,
    values_are_sane,
    one_row_per_system_and_date,
    counts_agree_with_prediction_accuracy,
]
all_checks = [*partition_checks, no_duplicates_in_recent_days]

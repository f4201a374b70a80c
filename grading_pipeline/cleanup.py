"""The duplicate cleanup (the seed's "Data Cleanup Plan", made safe and repeatable), as a Dagster job.

Steps: report (rows, NULL-safe unique keys, duplicate keys and extra rows per date) -> stop here on
a dry run -> back the table up -> under the locks of the affected date range (both tables), build a
deduplicated copy of it (the row the grading itself would keep: sql/macros/) -> validate it (rows ==
original unique keys, no duplicate, no key lost) -> publish it: one write-audit-publish transaction
that swaps the copy in, re-aggregates `system_daily_performance` and runs every audit before COMMIT.

Any failed validation or audit stops the job before the swap commits: the original is untouched.
Restore: `grading-pipeline cleanup --restore BACKUP_TABLE` (see restore_from_backup).
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dagster import AssetMaterialization, Config, OpExecutionContext, job, op
from pydantic import Field

from grading_pipeline.assets.partition_locks import hold_dates
from grading_pipeline.audits import GRADED_ROWS_MATCH_SOURCE, audits_of
from grading_pipeline.errors import AuditFailedError, GradingError
from grading_pipeline.grading import dates_between, publish_dates
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.tables import GRADED_TABLES, PREDICTION_ACCURACY
from grading_pipeline.warehouse.base import Warehouse

ACCURACY_TABLE = PREDICTION_ACCURACY.name
DEDUPLICATED_TABLE = f"{ACCURACY_TABLE}_deduplicated"


class CleanupValidationError(GradingError):
    """The deduplicated copy failed validation; the original table was left untouched."""


@dataclass(frozen=True)
class CleanupReport:
    per_date: list[dict[str, Any]]

    @property
    def rows(self) -> int:
        return sum(int(r["row_count"]) for r in self.per_date)

    @property
    def unique_keys(self) -> int:
        return sum(int(r["unique_keys"]) for r in self.per_date)

    @property
    def duplicate_keys(self) -> int:
        return sum(int(r["duplicate_keys"]) for r in self.per_date)

    @property
    def extra_rows(self) -> int:
        return sum(int(r["extra_rows"]) for r in self.per_date)

    @property
    def affected_dates(self) -> list[dt.date]:
        return [r["game_date"] for r in self.per_date if r["duplicate_keys"]]

    def summary(self) -> str:
        lines = [f"{self.rows:,} rows, {self.unique_keys:,} unique business keys (NULL line_value counted), "
                 f"{self.duplicate_keys:,} duplicate keys, {self.extra_rows:,} extra rows"]
        lines += [f"  {r['game_date']}: {r['duplicate_keys']} duplicate keys, {r['extra_rows']} extra rows"
                  for r in self.per_date if r["duplicate_keys"]]
        return "\n".join(lines)


def report(warehouse: Warehouse) -> CleanupReport:
    with warehouse.session(read_only=True) as session:
        return CleanupReport(session.query("cleanup/report.sql", {}))


class CleanupConfig(Config):
    dry_run: bool = Field(default=False, description="Report only: change nothing.")


@op(description="Deduplicate nba_predictions.prediction_accuracy (see grading_pipeline/cleanup.py).")
def deduplicate_prediction_accuracy(
    context: OpExecutionContext,
    config: CleanupConfig,
    warehouse: Warehouse,
    partition_lock: PartitionLockResource,
) -> dict:
    found = report(warehouse)
    context.log.info("Report:\n" + found.summary())
    result: dict[str, Any] = {
        "rows": found.rows, "unique_keys": found.unique_keys, "duplicate_keys": found.duplicate_keys,
        "extra_rows": found.extra_rows, "affected_dates": [str(d) for d in found.affected_dates],
        "dry_run": config.dry_run,
    }
    if config.dry_run or not found.affected_dates:
        context.log.info("Dry run: nothing changed." if config.dry_run else "No duplicates: nothing to do.")
        return result

    first, last = found.affected_dates[0], found.affected_dates[-1]
    span = {"start_date": first, "end_date": last}
    backup = f"{ACCURACY_TABLE}_backup_{dt.datetime.now(dt.timezone.utc):%Y%m%d_%H%M%S}"
    with warehouse.session() as session:
        backed_up = session.create_table_as(backup, "cleanup/backup.sql", {})
    if backed_up != found.rows:
        raise CleanupValidationError(f"backup {backup} holds {backed_up} rows, the table {found.rows}; stopping")
    context.log.info(f"Backed up {backed_up:,} rows to {backup}")
    result["backup_table"] = backup

    dates = dates_between(first, last)
    step = context.op_def.name
    with hold_dates(partition_lock, GRADED_TABLES, dates, context.run.run_id, step, context.log) as held:
        with warehouse.session() as session:
            for table in GRADED_TABLES:
                session.claim_fences(table.name, held.fences[table.name])
            copied = session.create_table_as(DEDUPLICATED_TABLE, "cleanup/deduplicated.sql", span)
            (checked,) = session.query("cleanup/validate.sql", span)
            context.log.info(f"Deduplicated copy of {first} .. {last}: {copied:,} rows; validation {checked}")
            problems = []
            if checked["copy_rows"] != checked["original_unique_keys"]:
                problems.append(f"copy has {checked['copy_rows']} rows, original {checked['original_unique_keys']} unique keys")
            if checked["copy_duplicate_keys"]:
                problems.append(f"copy still has {checked['copy_duplicate_keys']} duplicate keys")
            if checked["lost_keys"]:
                problems.append(f"{checked['lost_keys']} keys of the original are missing from the copy")
            if problems:
                session.drop_table(DEDUPLICATED_TABLE)
                raise CleanupValidationError("Validation failed, original untouched: " + "; ".join(problems))
            held.assert_held()
            published = publish_dates(
                session, first, last, GRADED_TABLES, fences=held.fences, before_commit=held.assert_held,
                run_id=context.run.run_id,
                select_overrides={PREDICTION_ACCURACY.name: "cleanup/from_deduplicated.sql"},
                # Rows graded by an older system need not match today's source; the copy is audited
                # for what the cleanup changes: keys, values, and the aggregate.
                audits=[a for a in audits_of(GRADED_TABLES) if a is not GRADED_ROWS_MATCH_SOURCE],
            )
            session.drop_table(DEDUPLICATED_TABLE)
    if not published.committed:
        raise AuditFailedError(published.failure_message())
    swapped = published.publication
    replaced = sum(swapped.rows_replaced[PREDICTION_ACCURACY.name].values())
    context.log.info(f"Swapped in: {replaced:,} rows replaced by {swapped.rows_written[PREDICTION_ACCURACY.name]:,}")
    result["rows_removed"] = replaced - swapped.rows_written[PREDICTION_ACCURACY.name]
    for table in GRADED_TABLES:
        figures = published.metadata(table)
        for game_date in found.affected_dates:
            context.log_event(AssetMaterialization(
                asset_key=table.asset_key, partition=game_date.isoformat(),
                description=f"deduplicated by the cleanup (backup: {backup})",
                metadata={**figures[game_date], **held.lock_metadata[table.name][game_date], "backup_table": backup},
            ))
    after = report(warehouse)
    if after.duplicate_keys:
        raise CleanupValidationError(f"{after.duplicate_keys} duplicate keys remain after the swap")
    context.log.info("After cleanup:\n" + after.summary())
    result["rows_after"] = after.rows
    return result


@job(description="Report, back up, deduplicate (the row the grading keeps), validate, then swap and re-aggregate in one audited transaction.")
def cleanup_duplicates():
    deduplicate_prediction_accuracy()


def restore_from_backup(warehouse: Warehouse, backup_table: str) -> int:
    """Put a backup's rows back: every date of prediction_accuracy replaced by the backup's, in one
    transaction (run it while no grading runs; it takes no locks)."""
    if not backup_table.startswith(f"{ACCURACY_TABLE}_backup_"):
        raise ValueError(f"{backup_table!r} is not a backup of {ACCURACY_TABLE}")
    with warehouse.session() as session:
        if session.missing_tables([backup_table]):
            raise ValueError(f"backup table {backup_table} does not exist")
        return session.restore_table(ACCURACY_TABLE, backup_table)

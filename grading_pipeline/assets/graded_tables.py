"""The two graded tables as one Dagster step: `nba_predictions/prediction_accuracy` and
`nba_predictions/system_daily_performance`, with their partition checks.

A run of one date, or a single-run range backfill, locks every date, then grades, aggregates and
audits them in ONE transaction (write, audit, publish) and commits only if no blocking check failed.
Each date gets its own check evaluations and its own materialization metadata, so the UI's
partition views and plots show each date's truth after a range backfill too.

Either asset can be materialized alone: grading a date always re-aggregates it in the same
transaction (recorded as a materialization of system_daily_performance), so the tables never
disagree; aggregating alone reads the graded rows as they are. The checks can also run alone
(the UI's "Execute" on a check): they then audit the stored rows and write nothing.
"""


import datetime as dt
import time
from collections.abc import Iterable, Iterator
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    AssetSpec,
    BackfillPolicy,
    Config,
    DagsterEventType,
    MaterializeResult,
    Output,
    multi_asset,
)
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,  # not exported at the top level in 1.13
)
from pydantic import Field

from grading_pipeline import settings
from grading_pipeline.assets.partition_locks import hold_dates
from grading_pipeline.audits import AUDITS, AUDITS_BY_NAME, AuditSettings, Finding
from grading_pipeline.errors import AuditFailedError
from grading_pipeline.freshness import DESCRIPTION as FRESHNESS_DESCRIPTION
from grading_pipeline.freshness import FRESHNESS_CHECK, evaluations_now, graded_evaluation
from grading_pipeline.grading import (
    DatesPublication,
    GradingPolicy,
    audit_stored,
    dates_between,
    parse_game_date,
    publish_dates,
    tables_to_write,
)
from grading_pipeline.partitions import game_date_partitions
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.tables import (
    GRADED_TABLES,
    INPUT_TABLES,
    PREDICTION_ACCURACY,
    SCORECARD_REACH_DAYS,
    SYSTEM_DAILY_PERFORMANCE,
    SYSTEM_SCORECARD,
)
from grading_pipeline.warehouse.base import Warehouse

GROUP = "grading"
ENGINE_KIND = {"local": "duckdb", "prod": "bigquery"}[settings.grading_env()]


class GradingConfig(Config):
    min_actuals_coverage: float = Field(
        default=GradingPolicy.min_actuals_coverage,
        description="Minimum share of graded predictions with a box-score row; below it the date fails as 'actuals not loaded'.",
    )
    allow_games_without_actuals: bool = Field(
        default=GradingPolicy.allow_games_without_actuals,
        description="Grade (and void) predictions of games that have no box score at all.",
    )
    max_points: float = Field(
        default=GradingPolicy.max_points,
        description="Largest believable points total, predicted or scored; beyond it (or below 0) the date fails, naming the rows.",
    )
    allow_empty_replace: bool = Field(
        default=GradingPolicy.allow_empty_replace,
        description="Replace a graded date whose inputs are now empty by nothing (refused by default: a lost load is not a day without games).",
    )
    coverage_warn_below: float = Field(default=AuditSettings.coverage_warn_below, description="actuals_coverage WARNs below this share.")
    coverage_error_below: float = Field(default=AuditSettings.coverage_error_below, description="actuals_coverage is an ERROR below this share.")

    def policy(self) -> GradingPolicy:
        return GradingPolicy(self.min_actuals_coverage, self.allow_games_without_actuals, self.max_points,
                             self.allow_empty_replace)

    def audit_settings(self) -> AuditSettings:
        return AuditSettings(coverage_warn_below=self.coverage_warn_below, coverage_error_below=self.coverage_error_below)


ACCURACY_SPEC = AssetSpec(
    PREDICTION_ACCURACY.asset_key,
    description=(
        "Every eligible prediction of a game date graded against the box score, one row per business key "
        "(sql/macros/business_key.sql: game_date, player_lookup, game_id, system_id, line_value).\n\n"
        "Excluded: invalidated predictions and the 20.0 placeholder line. When a key has several source rows, "
        "the earliest `created_at` is graded (a post-game re-run never replaces the pre-game prediction). "
        "Players who did not play are voided with a void_reason; pushes and voids have `prediction_correct` "
        "NULL. A date whose box scores have not arrived fails ('actuals not loaded') instead of voiding the day. "
        "Each date is replaced atomically under its `grading` lock, fenced, and audited before COMMIT."
    ),
    deps=[table.asset_key for table in INPUT_TABLES],
    partitions_def=game_date_partitions,
    group_name=GROUP,
    kinds={ENGINE_KIND},
    tags={"domain": "grading"},
)
PERFORMANCE_SPEC = AssetSpec(
    SYSTEM_DAILY_PERFORMANCE.asset_key,
    description=(
        "Per-system daily accuracy from `prediction_accuracy`: counts, win rates, MAE, bias, within-3/5, "
        "over/under and high-confidence (>= 0.70) splits, one row per (game_date, system_id).\n\n"
        "Voided predictions (did not play) and pushes are neither wins nor losses: every win rate divides "
        "correct by decided predictions, and MAE and bias cover played games only. Replaced atomically with "
        "its date's grades, under its `daily_performance` lock."
    ),
    deps=[PREDICTION_ACCURACY.asset_key],
    partitions_def=game_date_partitions,
    group_name=GROUP,
    kinds={ENGINE_KIND},
    tags={"domain": "grading"},
)
SCORECARD_SPEC = AssetSpec(
    SYSTEM_SCORECARD.asset_key,
    description=(
        "Is a system beating the market? One row per (game_date, system_id, window) for the trailing windows "
        "of 1, 7 and 30 days ending on the date: decided picks, wins, win rate with a Wilson 95% interval and "
        "whether its lower bound clears the -110 break-even (52.38%), units won and ROI at -110 and at the "
        "pick's own price (american_odds; NULL: -110), MAE, the Brier score of confidence against the outcome, "
        "and per confidence decile decided picks and win rate (calibration). Voids and pushes are neither wins "
        "nor losses, as in system_daily_performance.\n\nReplaced atomically with its date's grades, under its "
        "`scorecard` lock; re-grading a date scores again the dates whose windows reach it. "
        "`grading-pipeline scorecard` ranks the systems."
    ),
    deps=[PREDICTION_ACCURACY.asset_key],
    partitions_def=game_date_partitions,
    group_name=GROUP,
    kinds={ENGINE_KIND},
    tags={"domain": "grading"},
)
CHECK_SPECS = [
    *(AssetCheckSpec(audit.name, asset=audit.table.asset_key, blocking=audit.blocking, description=audit.description,
                     partitions_def=game_date_partitions)
      for audit in AUDITS),
    # The freshness promise (freshness.py): passed by each grading, failed by freshness_sensor.
    AssetCheckSpec(FRESHNESS_CHECK, asset=PREDICTION_ACCURACY.asset_key, description=FRESHNESS_DESCRIPTION,
                   partitions_def=game_date_partitions),
]
FRESHNESS_KEY = AssetCheckKey(PREDICTION_ACCURACY.asset_key, FRESHNESS_CHECK)


@multi_asset(
    name="grade_game_dates",
    specs=[ACCURACY_SPEC, PERFORMANCE_SPEC, SCORECARD_SPEC],
    check_specs=CHECK_SPECS,
    can_subset=True,
    backfill_policy=BackfillPolicy.single_run(),
)
def grade_game_dates(
    context: AssetExecutionContext,
    config: GradingConfig,
    warehouse: Warehouse,
    partition_lock: PartitionLockResource,
) -> Iterator[Any]:
    started = time.perf_counter()
    dates = [parse_game_date(key) for key in context.partition_keys]
    selected = [t for t in GRADED_TABLES if t.asset_key in context.selected_asset_keys]
    if not selected:
        yield from _recheck_stored_rows(context, warehouse, dates, config.audit_settings())
        return
    tables = tables_to_write(selected)
    step = getattr(context, "op_execution_context", context).op_def.name
    # The scorecards already published after the run's dates whose windows reach them are scored
    # again: lock every date they may be on.
    reach_until = min(dates[-1] + dt.timedelta(days=SCORECARD_REACH_DAYS), settings.yesterday())
    dates_by_table = {t.name: dates_between(dates[0], max(dates[-1], reach_until)) if t is SYSTEM_SCORECARD else dates
                      for t in tables}
    with hold_dates(partition_lock, tables, dates_by_table, context.run.run_id, step, context.log) as held:
        with warehouse.session() as session:
            for table in tables:
                # Claimed as soon as the locks are held: a holder whose lease ran out can no
                # longer commit, even before its successor writes anything.
                session.claim_fences(table.name, held.fences[table.name])
            held.assert_held()
            published = publish_dates(session, dates[0], dates[-1], tables, config.policy(),
                                      config.audit_settings(), held.fences, reach_until=reach_until,
                                      before_commit=held.assert_held, run_id=context.run.run_id)
    if not published.committed:
        # Recorded on each date's partition against the version that stays (the previous one).
        yield from _evaluations(context, published.findings, "the new rows, inside the write's transaction",
                                published=False)
        if FRESHNESS_KEY in context.selected_asset_check_keys:  # the version that stays, judged now
            targets = _latest_materializations(context, PREDICTION_ACCURACY.asset_key, dates)
            yield from evaluations_now(context.instance, warehouse, dates[0], dates[-1], targets=targets)
        raise AuditFailedError(published.failure_message())
    seconds = round(time.perf_counter() - started, 4)
    _log_publication(context, published, seconds)
    for table in tables:
        for game_date, figures in published.metadata(table).items():
            metadata = {**figures, **held.lock_metadata[table.name][game_date]}
            if len(dates) == 1:
                metadata["seconds"] = seconds  # a range's run time is no date's own figure
            if table in selected and dates[0] <= game_date <= dates[-1]:
                context.add_asset_metadata(metadata, asset_key=table.asset_key, partition_key=game_date.isoformat())
            else:  # written with the run's dates, though not among them or not selected
                yield AssetMaterialization(
                    table.asset_key, partition=game_date.isoformat(), metadata=metadata,
                    description=(f"re-computed with {PREDICTION_ACCURACY.name} "
                                 f"{dates[0]}{'' if len(dates) == 1 else '..' + str(dates[-1])}"),
                )
        if table in selected:
            yield MaterializeResult(asset_key=table.asset_key)
    # After the materializations: each evaluation names the one it audited, so the UI counts it as
    # the check of the latest version (else it shows the partition as not evaluated).
    targets: dict[AssetKey, dict[str, AssetCheckEvaluationTargetMaterializationData]] = {}
    yield from _with_check_outputs(context, _evaluations(
        context, published.findings, "the new rows, inside the write's transaction", published=True, targets=targets))
    if FRESHNESS_KEY in context.selected_asset_check_keys:
        graded_at = dt.datetime.now(dt.timezone.utc)
        targets = targets.get(PREDICTION_ACCURACY.asset_key) or _latest_materializations(
            context, PREDICTION_ACCURACY.asset_key, dates)
        yield from _with_check_outputs(
            context, (graded_evaluation(game_date, graded_at, targets.get(game_date.isoformat())) for game_date in dates))


def _with_check_outputs(context: AssetExecutionContext, evaluations: Iterable[AssetCheckEvaluation]) -> Iterator[Any]:
    """The evaluations, then an output for each check they evaluated: what Dagster yields with an
    AssetCheckResult, which cannot name a date in a range run (hence AssetCheckEvaluations, one
    per date). Without the outputs Dagster logs that the step "did not yield or return expected
    outputs" and warns that a downstream asset "will proceed without gating" on the check."""
    evaluated: dict[AssetCheckKey, None] = {}
    for evaluation in evaluations:
        evaluated[evaluation.asset_check_key] = None
        yield evaluation
    for key in evaluated:
        # A write also audits the tables it re-computes unselected; their checks have no output.
        if key in context.selected_asset_check_keys:
            yield Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))


def _evaluations(
    context: AssetExecutionContext, findings: "dict[str, dict[dt.date, Finding]]", audited: str,
    published: "bool | None" = None,
    targets: "dict[AssetKey, dict[str, AssetCheckEvaluationTargetMaterializationData]] | None" = None,
) -> Iterator[AssetCheckEvaluation]:
    """One evaluation per audit and date, recorded on that date's partition, targeting the date's
    latest materialization (the one just published, or the version that stays). `targets` (asset
    key -> partition -> materialization) is filled with those it looked up, for the caller's reuse."""
    targets = {} if targets is None else targets
    for name, by_date in findings.items():
        audit = AUDITS_BY_NAME[name]
        if audit.table.asset_key not in targets:
            targets[audit.table.asset_key] = _latest_materializations(context, audit.table.asset_key, by_date)
        for game_date, finding in by_date.items():
            metadata = {"game_date": game_date.isoformat(), **finding.metadata, "audited": audited}
            if published is not None:
                metadata["published"] = published
            yield AssetCheckEvaluation(
                asset_key=audit.table.asset_key,
                check_name=name,
                passed=finding.passed,
                metadata=metadata,
                severity=AssetCheckSeverity(finding.severity),
                description=finding.description,
                blocking=audit.blocking,
                partition=game_date.isoformat(),
                target_materialization_data=targets[audit.table.asset_key].get(game_date.isoformat()),
            )


def _latest_materializations(
    context: AssetExecutionContext, asset_key: AssetKey, dates: "Iterable[dt.date]"
) -> "dict[str, AssetCheckEvaluationTargetMaterializationData]":
    """Each date's latest materialization of the asset (two queries, whatever the number of dates)."""
    instance = context.instance
    partitions = {d.isoformat() for d in dates}
    latest = instance.get_latest_storage_id_by_partition(asset_key, DagsterEventType.ASSET_MATERIALIZATION, partitions)
    if not latest:
        return {}
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=asset_key, storage_ids=list(latest.values())), limit=len(latest)
    ).records
    return {
        r.partition_key: AssetCheckEvaluationTargetMaterializationData(
            storage_id=r.storage_id, run_id=r.run_id, timestamp=r.timestamp
        )
        for r in records
    }


def _recheck_stored_rows(
    context: AssetExecutionContext, warehouse: Warehouse, dates: list[dt.date], audit_settings: AuditSettings
) -> Iterator[AssetCheckEvaluation]:
    audits = [AUDITS_BY_NAME[key.name] for key in context.selected_asset_check_keys if key.name in AUDITS_BY_NAME]
    with warehouse.session(read_only=True) as session:
        findings = audit_stored(session, dates[0], dates[-1], audits, audit_settings)
    yield from _with_check_outputs(context, _evaluations(context, findings, "the stored rows (the check run on its own)"))
    if FRESHNESS_KEY in context.selected_asset_check_keys:
        targets = _latest_materializations(context, PREDICTION_ACCURACY.asset_key, dates)
        yield from _with_check_outputs(
            context, evaluations_now(context.instance, warehouse, dates[0], dates[-1], targets=targets))


def _log_publication(context: AssetExecutionContext, published: DatesPublication, seconds: float) -> None:
    publication = published.publication
    written = ", ".join(f"{table.split('.')[1]} {rows:,} rows" for table, rows in publication.rows_written.items())
    context.log.info(
        f"published {publication.start_date}..{publication.end_date} ({len(published.dates)} dates): {written}; "
        f"transaction {publication.seconds:.3f} s, audits inside it {publication.audit_seconds:.3f} s; "
        f"step {seconds:.3f} s"
    )

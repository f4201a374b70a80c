"""Grading game dates: check the inputs, then publish the graded tables of the dates in one
write-audit-publish transaction (write the new rows, audit them, commit or roll back).

Engine-agnostic (works through the warehouse seam) and Dagster-agnostic (the asset calls it), so
the same function serves a single-date run (a range of one date), a range backfill, the cleanup,
the CLI and the benchmark.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from grading_pipeline.audits import Audit, AuditSettings, Finding, audits_of

from grading_pipeline.errors import (
    ActualsNotLoadedError,
    BadInputError,
    EmptyReplaceError,
    ImpossibleValuesError,
    SchemaMismatchError,
    GradingError,
    InvalidPartitionKeyError,
    MissingPredictionsError,
    MissingTableError,
)
from grading_pipeline.tables import (
    ACTUALS_TABLE,
    BREAK_EVEN_WIN_RATE,
    GRADED_TABLES,
    PREDICTION_ACCURACY,
    PREDICTIONS_TABLE,
    SYSTEM_SCORECARD,
    GradedTable,
)
from grading_pipeline.sql_catalog import ddl_columns, type_family
from grading_pipeline.warehouse.base import (
    INPUT_DDL,
    AuditQuery,
    Fence,
    Publication,
    TableWrite,
    WarehouseSession,
    rows_by_date,
)


@dataclass(frozen=True)
class GradingPolicy:
    """When a date's inputs are complete enough to grade."""

    # Share of graded business keys whose player has a box-score row; below it the actuals are
    # taken as not (fully) loaded and the date fails instead of voiding predictions wholesale.
    min_actuals_coverage: float = 0.8
    # A predicted game with no box-score row at all is a late load, not a night of DNPs.
    allow_games_without_actuals: bool = False
    # Points beyond this (predicted or scored), or below 0, are not believable: the date fails.
    max_points: float = 100.0
    # A graded date whose inputs are now empty is an anomaly (a lost load), not "no games": its
    # grades are replaced by nothing only when this is set.
    allow_empty_replace: bool = False


def parse_game_date(partition_key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(partition_key)
    except (TypeError, ValueError) as error:
        raise InvalidPartitionKeyError(
            f"Partition key {partition_key!r} is not a date (expected YYYY-MM-DD)."
        ) from error


def check_inputs(
    session: WarehouseSession, start_date: dt.date, end_date: dt.date, policy: GradingPolicy
) -> dict[dt.date, dict[str, Any]]:
    """The source figures of each date in [start_date, end_date] that has any input; raises a
    clear error naming every date that cannot be graded."""
    missing = session.missing_tables([PREDICTIONS_TABLE, ACTUALS_TABLE])
    if missing:
        raise MissingTableError(
            f"Input table(s) {', '.join(missing)} do not exist in the warehouse; load them first "
            "(locally: `grading-pipeline sample-data`)."
        )
    check_input_schemas(session)
    params = {"start_date": start_date, "end_date": end_date, "max_points": float(policy.max_points)}
    rows = session.query("grading/source_health.sql", params)
    health = {row["game_date"]: row for row in rows}
    problems = [p for p in (_problem(day, h, policy) for day, h in sorted(health.items())) if p]
    if any(isinstance(p, ImpossibleValuesError) for p in problems):
        problems = _with_samples(problems, session.query("grading/impossible_values.sql", params))
    if problems:
        error_class = type(problems[0])
        if len(problems) == 1:
            raise problems[0]
        raise error_class(f"{len(problems)} dates cannot be graded:\n" + "\n".join(str(p) for p in problems))
    for h in health.values():
        if h["eligible_keys"]:
            h["actuals_coverage"] = round(h["keys_with_actuals"] / h["eligible_keys"], 4)
    return health


def check_input_schemas(session: WarehouseSession) -> None:
    """Every column the input DDL (sql/ddl/) declares, present and of its kind, or a clear error
    naming the table, the column, the expected and the found type (instead of an engine's binder
    error naming neither)."""
    problems = []
    for ddl in INPUT_DDL:
        table, columns = ddl_columns(ddl)
        found = {name.lower(): kind for name, kind in session.column_types(table).items()}
        for column in columns:
            kind = found.get(column.name.lower())
            if kind is None:
                problems.append(f"{table}.{column.name}: missing (expected {column.bigquery_type})")
            elif type_family(kind) != type_family(column.bigquery_type):
                problems.append(f"{table}.{column.name}: expected {column.bigquery_type}, found {kind}")
    if problems:
        raise SchemaMismatchError(
            "The input tables do not have the columns the grading reads (sql/ddl/); nothing was written:\n  "
            + "\n  ".join(problems)
        )


def _with_samples(problems: list[GradingError], samples: list[dict[str, Any]]) -> list[GradingError]:
    """Each impossible-values error, followed by the rows (at most 5 per problem) that break it."""
    named = []
    for problem in problems:
        if isinstance(problem, ImpossibleValuesError):
            rows = [r for r in samples if str(r["game_date"]) == str(problem.game_date)]
            lines = [f"  {r['problem']} = {r['value']}: player {r['player_lookup']}, game {r['game_id']}"
                     + (f", system {r['system_id']}" if r["system_id"] else "") for r in rows]
            problem = ImpossibleValuesError("\n".join([str(problem), *lines]), problem.game_date)
        named.append(problem)
    return named


def _problem(game_date: dt.date, health: dict[str, Any], policy: GradingPolicy) -> GradingError | None:
    impossible = {
        "predicted_points outside [0, max_points]": health["predicted_out_of_bounds"],
        "box scores with points outside [0, max_points] or negative minutes": health["actuals_out_of_bounds"],
        "NaN confidence_score": health["confidence_nan"],
    }
    if any(impossible.values()):
        found = "; ".join(f"{n} {what}" for what, n in impossible.items() if n)
        return ImpossibleValuesError(
            f"{game_date}: impossible values in the inputs ({found}; max_points = {policy.max_points:g}, "
            "run config); nothing was written. Fix them at the source:", game_date,
        )
    if health["mixed_confidence_scales"]:
        return BadInputError(
            f"{game_date}: {health['mixed_confidence_scales']} (system_id, model_version) wrote confidence on both "
            "scales that date (values above 1 and fractions of 1): the scale is decided per model version "
            "and date, and cannot be here. Fix the source rows; nothing was written."
        )
    if health["null_key_predictions"]:
        return BadInputError(
            f"{game_date}: {health['null_key_predictions']} active prediction(s) have a NULL "
            "player_lookup, game_id or system_id and cannot be graded. Fix them at the source or "
            "invalidate them (is_active = FALSE); nothing was written."
        )
    if health["conflicting_actuals"]:
        return BadInputError(
            f"{game_date}: {health['conflicting_actuals']} (player_lookup, game_id) pair(s) have "
            "conflicting rows in nba_analytics.player_game_summary; refusing to pick one silently."
        )
    if health["eligible_predictions"] == 0:
        if health["actual_players"]:
            return MissingPredictionsError(
                f"{game_date}: box scores exist for {health['actual_players']} player(s) but there "
                "are no gradable predictions. Was the prediction step skipped?"
            )
        return None
    if health["actual_players"] == 0:
        return ActualsNotLoadedError(
            f"{game_date}: actuals not loaded: {health['eligible_predictions']} predictions over "
            f"{health['games_with_predictions']} game(s), but no box scores for the date."
        )
    missing_games = health["games_with_predictions"] - health["games_with_actuals"]
    if missing_games and not policy.allow_games_without_actuals:
        return ActualsNotLoadedError(
            f"{game_date}: actuals not loaded for {missing_games} of "
            f"{health['games_with_predictions']} predicted game(s). Retry once they arrive, or "
            "set allow_games_without_actuals to void them."
        )
    coverage = health["keys_with_actuals"] / health["eligible_keys"]
    if coverage < policy.min_actuals_coverage:
        return ActualsNotLoadedError(
            f"{game_date}: actuals not loaded: only {coverage:.1%} of graded predictions have a "
            f"box-score row (minimum {policy.min_actuals_coverage:.0%})."
        )
    return None


def tables_to_write(selected: Iterable[GradedTable]) -> tuple[GradedTable, ...]:
    """Grading a date always re-aggregates it and re-scores it: the tables never disagree.
    Aggregating or scoring alone reads the graded rows as they are."""
    names = {t.name for t in selected}
    if PREDICTION_ACCURACY.name in names:
        return GRADED_TABLES
    return tuple(t for t in GRADED_TABLES if t.name in names)


def dates_between(start_date: dt.date, end_date: dt.date) -> list[dt.date]:
    return [start_date + dt.timedelta(days=i) for i in range((end_date - start_date).days + 1)]


@dataclass(frozen=True)
class DatesPublication:
    """One publication of the graded tables over a date range, judged date by date."""

    tables: tuple[GradedTable, ...]
    publication: Publication
    findings: dict[str, dict[dt.date, Finding]]  # audit name -> date -> finding
    source_health: dict[dt.date, dict[str, Any]] = field(default_factory=dict)
    ranges: dict[str, tuple[dt.date, dt.date]] = field(default_factory=dict)  # table -> the dates it wrote
    regraded: frozenset[dt.date] = frozenset()  # the dates that were graded before this write
    # date -> per system with a change: grades_changed, win_rate_before, win_rate_after (re-grades)
    grade_changes: dict[dt.date, list[dict[str, Any]]] = field(default_factory=dict)

    def dates_of(self, table: GradedTable) -> list[dt.date]:
        return dates_between(*self.ranges.get(table.name, (self.publication.start_date, self.publication.end_date)))

    @property
    def dates(self) -> list[dt.date]:
        return dates_between(self.publication.start_date, self.publication.end_date)

    @property
    def committed(self) -> bool:
        return self.publication.committed

    def blocking_failures(self) -> list[tuple[dt.date, str, Finding]]:
        """(date, audit, finding) of every blocking audit that failed, date by date."""
        return [
            (day, name, finding)
            for name in self.publication.blocked_by
            for day, finding in sorted(self.findings[name].items())
            if not finding.passed
        ]

    def metadata(self, table: GradedTable) -> dict[dt.date, dict[str, Any]]:
        """Each date's own figures for `table` (numbers Dagster plots across partitions)."""
        summaries = self.publication.summaries.get(table.name, {})
        replaced = self.publication.rows_replaced.get(table.name, {})
        figures = {}
        for day in self.dates_of(table):
            if table is SYSTEM_SCORECARD:
                figures[day] = {**_scorecard_figures(summaries.get(day, [])), "rows_replaced": replaced.get(day, 0)}
                continue
            (row,) = summaries.get(day, [{}])  # one summary row per date
            summary = {k: v for k, v in row.items() if k != "game_date" and v is not None}
            meta: dict[str, Any] = {**_ZEROS[table.name], **summary, "rows_replaced": replaced.get(day, 0)}
            if table is PREDICTION_ACCURACY:
                source = self.source_health.get(day, {})
                meta["source_predictions"] = source.get("source_predictions", 0)
                # How many source rows each rule set aside.
                for rule in ("invalidated_predictions", "placeholder_line_predictions", "post_game_or_undated_predictions"):
                    meta[rule] = source.get(rule, 0)
                meta["duplicate_source_rows"] = source.get("gradable_predictions", 0) - source.get("eligible_keys", 0)
                if "actuals_coverage" in source:
                    meta["actuals_coverage"] = source["actuals_coverage"]
                if day in self.regraded:  # what the re-grade changed (a stat correction)
                    changed = self.grade_changes.get(day, [])
                    meta["grades_changed"] = sum(int(c["grades_changed"]) for c in changed)
                    if changed:
                        meta["grade_changes"] = describe_grade_changes(changed)
            figures[day] = {k: float(v) if hasattr(v, "as_tuple") else v for k, v in meta.items()}
        return figures

    def failure_message(self, limit: int = 10) -> str:
        failures = self.blocking_failures()
        lines = [
            f"{day}: blocking check {name} failed: {finding.description or 'see its metadata'}"
            for day, name, finding in failures[:limit]
        ]
        if len(failures) > limit:
            lines.append(f"... and {len(failures) - limit} more failed evaluations")
        first, last = self.publication.start_date, self.publication.end_date
        span = str(first) if first == last else f"{first}..{last}"
        tables = " and ".join(t.name.split(".")[1] for t in self.tables)
        return (
            "\n".join(lines) + f"\nThe write of {span} was rolled back before COMMIT: {tables} keep their "
            "previous version of every date, whole."
        )


def describe_grade_changes(changes: list[dict[str, Any]]) -> str:
    """`catboost_v8: 3 grades changed, win rate 0.612 -> 0.605; ...` (one date's changes)."""
    def rate(value: Any) -> str:
        return "n/a" if value is None else f"{float(value):.3f}"

    return "; ".join(f"{c['system_id']}: {int(c['grades_changed'])} grades changed, win rate "
                     f"{rate(c['win_rate_before'])} -> {rate(c['win_rate_after'])}" for c in changes)


def _scorecard_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A date's 30-day windows, one plotted name per system and figure, beside the break-even line."""
    figures: dict[str, Any] = {"break_even_win_rate": BREAK_EVEN_WIN_RATE, "systems": len(rows),
                               "systems_beating_break_even": sum(bool(r["beats_break_even"]) for r in rows)}
    for row in rows:
        for name in ("win_rate", "win_rate_lower", "roi"):
            if row[name] is not None:
                figures[f"{row['system_id']}__{name}_30d"] = float(row[name])
    return figures


# Figures of a date without rows (a day without games), so every date has the same plotted names.
_ZEROS = {
    "nba_predictions.prediction_accuracy": {"rows_graded": 0, "voided": 0, "pushes": 0, "without_actuals": 0,
                                           "correct": 0, "incorrect": 0},
    "nba_predictions.system_daily_performance": {"systems": 0, "predictions": 0},
}


def readiness(session: WarehouseSession, start_date: dt.date, end_date: dt.date,
              policy: GradingPolicy = GradingPolicy()) -> dict[dt.date, str | None]:
    """Per date of [start_date, end_date] with any input: why it cannot be graded yet (box scores
    missing or below the coverage minimum, bad rows), or None when it can. The grading's own rules."""
    params = {"start_date": start_date, "end_date": end_date, "max_points": float(policy.max_points)}
    found = {}
    for row in session.query("grading/source_health.sql", params):
        problem = _problem(row["game_date"], row, policy)
        found[row["game_date"]] = str(problem) if problem else None
    return found


def publish_dates(
    session: WarehouseSession,
    start_date: dt.date,
    end_date: dt.date,
    tables: Iterable[GradedTable] = GRADED_TABLES,
    policy: GradingPolicy = GradingPolicy(),
    settings: AuditSettings = AuditSettings(),
    fences: Mapping[str, Sequence[Fence]] | None = None,
    select_overrides: Mapping[str, str] | None = None,
    audits: Sequence[Audit] | None = None,
    reach_until: dt.date | None = None,
    before_commit: Callable[[], None] | None = None,
    run_id: str | None = None,
) -> DatesPublication:
    """Check the inputs (when grading), then replace the tables' rows of every date in
    [start_date, end_date] in one transaction that commits only if no blocking audit fails.
    `select_overrides` (table -> sql/ name) takes a table's new rows from elsewhere (the cleanup's
    deduplicated copy); its inputs are then not checked, as it is not graded again. `audits`:
    default, every audit of the tables. `reach_until`: the last date whose scorecard may be
    published again (the scorecards already published after end_date, up to it, are).
    `before_commit`: the lease check, run as late as the engine allows (see `publish`). `run_id`:
    the run the graded rows say wrote them (sql/macros/write_provenance.sql)."""
    tables = tables_to_write(tables)
    overrides = dict(select_overrides or {})
    ranges = {t.name: (start_date, end_date) for t in tables}
    if SYSTEM_SCORECARD in tables and reach_until and reach_until > end_date:
        # Re-grading a date changes the windows of the scorecards after it: publish those again too.
        ranges[SYSTEM_SCORECARD.name] = (start_date, max(end_date, _last_scored(session, end_date, reach_until)))
    grading = PREDICTION_ACCURACY in tables and PREDICTION_ACCURACY.name not in overrides
    health = check_inputs(session, start_date, end_date, policy) if grading else {}
    graded_before = _graded_dates(session, start_date, end_date) if grading else {}
    if grading and not policy.allow_empty_replace:
        _refuse_to_empty_graded_dates(graded_before, health)
    # A re-grade says what it changed (a stat correction re-settles grades), inside the write: the
    # previous grades copied before its DELETE, compared with the new ones after its INSERT.
    reports = {"previous_sql": "reports/previous_grades.sql", "report_sql": "reports/grade_changes.sql"}
    writes = [TableWrite(t.name, overrides.get(t.name, t.select_sql), t.summary_sql, *ranges[t.name],
                         params=provenance_params(t, run_id, fences),
                         **(reports if t is PREDICTION_ACCURACY and graded_before else {})) for t in tables]
    audits = audits_of(tables) if audits is None else tuple(audits)
    publication = session.publish(start_date, end_date, writes, _queries(audits, settings, ranges), fences,
                                  before_commit)
    changes = rows_by_date(publication.reports.get(PREDICTION_ACCURACY.name, []))
    return replace(_judged(publication, audits, settings, health, ranges), regraded=frozenset(graded_before),
                   grade_changes=changes)


def _graded_dates(session: WarehouseSession, start_date: dt.date, end_date: dt.date) -> dict[dt.date, int]:
    """The dates of the range that have graded rows, and how many."""
    rows = session.query("reports/graded_dates.sql", {"start_date": start_date, "end_date": end_date})
    return {r["game_date"]: r["rows_graded"] for r in rows}


def provenance_params(table: GradedTable, run_id: str | None, fences: Mapping[str, Sequence[Fence]] | None) -> dict[str, Any]:
    """The parameters of sql/macros/write_provenance.sql: who writes the rows, and whether under the lock."""
    if table is not PREDICTION_ACCURACY:
        return {}
    return {"run_id": run_id or "", "fenced": bool((fences or {}).get(table.name))}


def _refuse_to_empty_graded_dates(graded_before: dict[dt.date, int], health: dict[dt.date, dict[str, Any]]) -> None:
    emptied = [(day, rows) for day, rows in sorted(graded_before.items()) if day not in health]
    if emptied:
        dates = ", ".join(f"{day} ({rows:,} graded rows)" for day, rows in emptied)
        raise EmptyReplaceError(
            f"{dates}: graded before, but its inputs are now empty (no predictions, no box scores). "
            "That is a lost load, not a day without games: refusing to replace the grades with nothing. "
            "If the date really has no games, re-run with run config allow_empty_replace: true "
            "(CLI: grading-pipeline grade --allow-empty-replace)."
        )


def audit_stored(
    session: WarehouseSession, start_date: dt.date, end_date: dt.date, audits: Sequence[Audit],
    settings: AuditSettings = AuditSettings(),
) -> dict[str, dict[dt.date, Finding]]:
    """The audits run on the stored rows (an asset check re-run on its own; nothing is written)."""
    params = {"start_date": start_date, "end_date": end_date}
    days = dates_between(start_date, end_date)
    return {a.name: a.findings(session.query(a.sql, {**params, **a.params(settings)}), days, settings) for a in audits}


def _last_scored(session: WarehouseSession, after: dt.date, until: dt.date) -> dt.date:
    rows = session.query("scorecard/last_scored_date.sql", {"start_date": after + dt.timedelta(days=1), "end_date": until})
    return rows[0]["last_scored"] if rows and rows[0]["last_scored"] else after


def _queries(audits: Sequence[Audit], settings: AuditSettings, ranges: Mapping[str, tuple[dt.date, dt.date]]) -> list[AuditQuery]:
    return [AuditQuery(a.name, a.sql, a.blocking, a.params(settings), *ranges.get(a.table.name, (None, None)))
            for a in audits]


def _judged(
    publication: Publication, audits: Sequence[Audit], settings: AuditSettings, health: dict[dt.date, dict[str, Any]],
    ranges: Mapping[str, tuple[dt.date, dt.date]],
) -> DatesPublication:
    default = (publication.start_date, publication.end_date)
    findings = {a.name: a.findings(publication.audit_rows[a.name], dates_between(*ranges.get(a.table.name, default)), settings)
                for a in audits}
    tables = tuple(t for t in GRADED_TABLES if t.name in publication.rows_written)
    return DatesPublication(tables, publication, findings, health, dict(ranges))

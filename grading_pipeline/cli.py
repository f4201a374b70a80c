"""`grading-pipeline`: the project's own commands (sample data, grading through Dagster, reports)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from typing import Any

from grading_pipeline import settings

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _warehouse():
    from grading_pipeline.resources.by_environment import build_resources

    return build_resources()["warehouse"]


def sample_window(args: argparse.Namespace) -> None:
    """The sample's default window: from the first partition to yesterday, so that a fresh
    deployment shows every partition graded."""
    args.start = args.start or settings.season_start()
    if args.days is None:
        args.days = max(1, (settings.yesterday() - args.start).days + 1)


def load_sample_data(start: dt.date, days: int, per_day: int, seed: int) -> dict[str, Any]:
    from grading_pipeline.sample_data import generate_season

    season = generate_season(start, days, predictions_per_day=per_day, seed=seed)
    warehouse = _warehouse()
    warehouse.ensure_tables(include_inputs=True)
    all_dates = [start + dt.timedelta(days=i) for i in range(days)]
    predictions = warehouse.load_rows("nba_predictions.player_prop_predictions", season.predictions, all_dates)
    actuals = warehouse.load_rows("nba_analytics.player_game_summary", season.actuals, all_dates)
    return {
        "start": start,
        "end": all_dates[-1],
        "game_days": len(season.game_dates),
        "predictions": predictions,
        "actuals": actuals,
    }


def cmd_sample_data(args: argparse.Namespace) -> int:
    sample_window(args)
    loaded = load_sample_data(args.start, args.days, args.per_day, args.seed)
    print(
        f"Loaded sample season {loaded['start']} .. {loaded['end']}: {loaded['game_days']} game days, "
        f"{loaded['predictions']:,} predictions, {loaded['actuals']:,} box-score rows "
        f"into {settings.duckdb_path()}"
    )
    return 0


def _instance():
    from dagster import DagsterInstance

    if os.environ.get("DAGSTER_HOME"):
        return DagsterInstance.get()  # Dagster's own checks of the variable, and its messages
    home = settings.dagster_home()
    return DagsterInstance.from_config(home) if home else DagsterInstance.ephemeral()


NO_INSTANCE = ("no Dagster instance to read the gradings from: set DAGSTER_HOME, or run it where "
               f"`make demo` made {settings.DEFAULT_DAGSTER_HOME}/")


def partition_range_error(start: dt.date, end: dt.date) -> str | None:
    """Why [start, end] is not a range of partitions, naming the valid range; None when it is."""
    first, last = settings.season_start(), settings.yesterday()
    outside = [d for d in (start, end) if not first <= d <= last]
    if not outside:
        return None
    return (f"{outside[0]} is not a partition: the daily partitions run from {first} (GRADING_SEASON_START) "
            f"to {last} (yesterday, UTC)")


def grade_range(start: dt.date, end: dt.date, log_level: str = "CRITICAL", instance=None, grading: dict | None = None):
    """Materialize both assets for [start, end] as one Dagster run (a single-run range backfill);
    `grading`: run config of the grading step (e.g. allow_empty_replace)."""
    from grading_pipeline.definitions import build_definitions

    job = build_definitions().resolve_job_def("grade_game_date")
    run_config: dict = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if grading:
        run_config["ops"] = {"grade_game_dates": {"config": grading}}
    selection = (
        {"partition_key": start.isoformat()}
        if start == end
        else {"tags": {RANGE_START_TAG: start.isoformat(), RANGE_END_TAG: end.isoformat()}}
    )
    return job.execute_in_process(instance=instance or _instance(), run_config=run_config, raise_on_error=False, **selection)


def step_failures(result) -> list[tuple[str, str]]:
    """(step, root error message) of each failed step: Dagster wraps the user's exception."""
    failures = []
    for event in result.all_events:
        if event.is_step_failure:
            error = event.event_specific_data.error
            while error.cause is not None:
                error = error.cause
            message = error.message.strip()
            qualified = re.match(rf"[\w.]*{re.escape(error.cls_name or '')}: ", message)
            failures.append((event.step_key, f"{error.cls_name}: {message[qualified.end():] if qualified else message}"))
    return failures


def print_summary(start: dt.date, end: dt.date) -> int:
    from grading_pipeline.checks import sweep

    with _warehouse().session(read_only=True) as session:
        rows = session.query("reports/graded_dates.sql", {"start_date": start, "end_date": end})
        duplicates = sweep(session, start, end)
    header = f"{'game_date':<12}{'graded':>8}{'systems':>9}{'voided':>8}{'pushes':>8}{'MAE':>7}{'win rate':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        win = "-" if r["win_rate"] is None else f"{r['win_rate']:.3f}"
        mae = "-" if r["mae"] is None else f"{float(r['mae']):.2f}"
        print(f"{r['game_date']!s:<12}{r['rows_graded']:>8}{r['systems']:>9}{r['voided']:>8}{r['pushes']:>8}{mae:>7}{win:>10}")
    total = sum(r["rows_graded"] for r in rows)
    print("-" * len(header))
    print(f"{len(rows)} graded dates, {total:,} graded rows; duplicate business keys: {duplicates.duplicate_keys}")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    problem = partition_range_error(args.start, args.end)
    if problem:
        print(f"grading-pipeline {args.command}: {problem}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    # Dagster's own console log (stack traces included) only with --verbose: failures are said
    # below, one line per failing date; the full trace stays in the run's event log.
    grading = {"allow_empty_replace": True} if getattr(args, "allow_empty_replace", False) else None
    result = grade_range(args.start, args.end, "DEBUG" if args.verbose else "CRITICAL", grading=grading)
    seconds = time.perf_counter() - started
    print(f"Dagster run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'} in {seconds:.1f} s")
    checks = result.get_asset_check_evaluations()
    failed = [c for c in checks if not c.passed]
    print(f"asset checks: {len(checks) - len(failed)} evaluations passed, {len(failed)} failed")
    for check in failed:
        severity = getattr(check.severity, "value", check.severity)
        print(f"  {check.partition or '-'} {check.check_name} ({severity}): {check.description or ''}".rstrip())
    for step, message in step_failures(result):
        name, _, text = message.partition(": ")
        lines = text.strip().splitlines() or [message]
        print(f"FAILED ({name}): {lines[0]}", file=sys.stderr)
        for line in lines[1:]:
            print(f"  {line}", file=sys.stderr)
    kept = settings.dagster_home() is not None
    if not result.success and not args.verbose:
        in_the_ui = f", or run {result.run_id} in the UI" if kept else ""
        print(f"(the full trace: grading-pipeline {args.command} ... --verbose{in_the_ui})", file=sys.stderr)
    if args.command == "demo" and result.success:
        print("3/5 the daily duplicate sweep (its own job, as the 12:00 UTC schedule runs it):")
        sweep_result = run_sweep_job()
        (evaluation,) = sweep_result.get_asset_check_evaluations()
        print(f"  Dagster run {sweep_result.run_id}: no_duplicates_in_recent_days "
              f"{'passed' if evaluation.passed else 'FAILED'} ({evaluation.metadata['game_date'].value})")
    print(f"{'4/5 ' if args.command == 'demo' else ''}graded dates in {settings.duckdb_path()}:")
    print_summary(args.start, args.end)
    if args.command == "demo" and result.success:
        print("\n5/5 the systems, ranked (grading-pipeline scorecard):")
        print_scorecard(args.end, 30)
    if not kept:
        print(f"(a temporary Dagster instance: the run is not kept for the UI or `status`; set DAGSTER_HOME, "
              f"or run `make demo` once to make {settings.DEFAULT_DAGSTER_HOME}/)", file=sys.stderr)
    return 0 if result.success else 1


def run_sweep_job():
    from grading_pipeline.definitions import build_definitions

    job = build_definitions().resolve_job_def("duplicate_sweep")
    return job.execute_in_process(instance=_instance(), raise_on_error=False,
                                  run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})


def cmd_demo(args: argparse.Namespace) -> int:
    sample_window(args)
    end = args.start + dt.timedelta(days=args.days - 1)
    print(f"1/5 sample data -> {settings.duckdb_path()}")
    cmd_sample_data(args)
    print(f"2/5 grading {args.start} .. {end} through Dagster (one single-run backfill)")
    args.end = end
    return cmd_grade(args)


def cmd_summary(args: argparse.Namespace) -> int:
    return print_summary(args.start, args.end)


def cmd_sweep(args: argparse.Namespace) -> int:
    """The deployment gate: non-zero exit when any duplicate business key exists in the window."""
    from grading_pipeline.checks import sweep, sweep_window

    try:
        start, end = sweep_window(args.days, args.end)
    except ValueError as error:
        print(f"grading-pipeline sweep: {error} (--days {args.days})", file=sys.stderr)
        return 2
    with _warehouse().session(read_only=True) as session:
        found = sweep(session, start, end)
    print(f"Duplicate sweep of nba_predictions.prediction_accuracy, {start} .. {end} ({found.days} days):")
    for day, (keys, extra) in found.per_date.items():
        print(f"  {day}: {keys} duplicate business keys, {extra} extra rows")
    if not found.duplicate_keys:
        print("OK: no duplicate business keys (NULL line_value counted as a value).")
        return 0
    print(f"FAIL: {found.duplicate_keys} duplicate business keys, {found.extra_rows} extra rows. Worst keys:")
    for key in found.sample[:5]:
        print(f"  {key}")
    return 1


def cmd_status(args: argparse.Namespace) -> int:
    """Per recent date: graded or not, when, by which run, inputs changed since, freshness. Exit 1
    when something needs action: a second deployment gate beside `sweep`."""
    from grading_pipeline.status import date_statuses

    if args.days < 1:
        print(f"grading-pipeline status: --days must be at least 1, not {args.days}", file=sys.stderr)
        return 2
    if settings.dagster_home() is None:  # a temporary instance has no gradings: all would say NOT GRADED
        print(f"grading-pipeline status: {NO_INSTANCE}", file=sys.stderr)
        return 2
    end = args.end or settings.yesterday()
    start = max(settings.season_start(), end - dt.timedelta(days=args.days - 1))
    statuses = date_statuses(_instance(), _warehouse(), start, end)
    print(f"{'game_date':<12}{'state':<24}{'graded at (UTC)':<18}{'run':<10}inputs now (predictions / box scores)")
    for s in statuses:
        when = s.graded_at.strftime("%Y-%m-%d %H:%M") if s.graded_at else "-"
        inputs = " / ".join(v.split(";")[0] for v in s.inputs_now.values())
        changed = f"  changed since: {', '.join(s.changed)}" if s.changed else ""
        print(f"{s.game_date!s:<12}{s.state:<24}{when:<18}{(s.run_id or '-')[:8]:<10}{inputs}{changed}")
    action = [s for s in statuses if s.needs_action]
    if not action:
        print(f"OK: {start} .. {end} needs nothing.")
        return 0
    print(f"ACTION NEEDED on {len(action)} date(s): " + ", ".join(f"{s.game_date} ({s.state.lower()})" for s in action))
    return 1


def print_scorecard(game_date: dt.date | None, window: int) -> int:
    from grading_pipeline.tables import BREAK_EVEN_WIN_RATE

    with _warehouse().session(read_only=True) as session:
        if game_date is None:
            (row,) = session.query("reports/last_scorecard_date.sql", {})
            game_date = row["game_date"]
            if game_date is None:
                print("No scorecard yet: grade some dates first (grading-pipeline grade ...)", file=sys.stderr)
                return 1
        rows = session.query("reports/scorecard.sql", {"game_date": game_date, "window_days": window})
    if not rows:
        print(f"No {window}-day scorecard for {game_date} (windows: 1, 7, 30; is the date graded?)", file=sys.stderr)
        return 1

    def num(value, spec):
        return "-" if value is None else format(value, spec)

    print(f"{window}-day scorecard ending {game_date} (window from {rows[0]['window_start']}; "
          "ranked by the lower bound of the 95% interval)")
    header = (f"{'#':>3} {'system':<25}{'picks':>7}{'wins':>6}{'win rate':>9}{'95% low':>9}{'95% high':>9}"
              f"{'ROI -110':>9}{'ROI price':>10}{'MAE':>7}{'Brier':>7}  beats break-even")
    print(header)
    print("-" * len(header))
    for rank, r in enumerate(rows, 1):
        print(f"{rank:>3} {r['system_id']:<25}{r['decided_picks']:>7}{r['wins']:>6}{num(r['win_rate'], '.3f'):>9}"
              f"{num(r['win_rate_lower'], '.3f'):>9}{num(r['win_rate_upper'], '.3f'):>9}{num(r['roi'], '+.1%'):>9}"
              f"{num(r['roi_at_price'], '+.1%'):>10}{num(r['mae'], '.2f'):>7}{num(r['brier_score'], '.3f'):>7}"
              f"  {'YES' if r['beats_break_even'] else 'no'}")
    winners = [r["system_id"] for r in rows if r["beats_break_even"]]
    print(f"{len(winners)} of {len(rows)} systems beat the -110 break-even ({BREAK_EVEN_WIN_RATE:.2%}) with 95% "
          f"confidence" + (f": {', '.join(winners)}." if winners else "."))
    return 0


def cmd_scorecard(args: argparse.Namespace) -> int:
    if args.window not in (1, 7, 30):
        print(f"grading-pipeline scorecard: --window must be 1, 7 or 30, not {args.window}", file=sys.stderr)
        return 2
    return print_scorecard(args.date, args.window)


def cmd_locks(args: argparse.Namespace) -> int:
    """Operator view of the partition locks of this environment's backend."""
    import json

    from grading_pipeline.locks import admin
    from grading_pipeline.resources.by_environment import partition_lock_resource
    from grading_pipeline.tables import GRADED_TABLES

    known = sorted({table.lock_type for table in GRADED_TABLES})
    if getattr(args, "lock_type", None) and args.lock_type not in known:
        print(f"grading-pipeline locks: unknown lock type {args.lock_type!r}; this project's lock types are "
              f"{', '.join(known)}", file=sys.stderr)
        return 2
    backend = partition_lock_resource().make_store()
    try:
        if args.locks_command == "list":
            rows = admin.list_locks(backend, args.lock_type)
            if args.json:
                print(json.dumps([r.as_dict() for r in rows], indent=2, default=str))
                return 0
            print(f"{len(rows)} lock(s) on {settings.lock_backend()} "
                  f"({sum(r.status == 'held' for r in rows)} held, {sum(r.status == 'expired' for r in rows)} expired):")
            for r in rows:
                print(f"  {r.status:9} {r.record.describe()}")
            return 0
        removed = admin.force_release(backend, args.lock_type, args.game_date)
        if removed is None:
            print(f"{args.lock_type}_{args.game_date}: nobody held it; nothing changed")
        else:
            print(f"force-released {removed.lock_key}: removed holder {removed.holder_id} "
                  f"(operation {removed.operation_id}, token {removed.fencing_token}, expires {removed.expires_at})")
        return 0
    finally:
        backend.close()


def cmd_cleanup(args: argparse.Namespace) -> int:
    """Launch the cleanup job (or restore a backup) on this environment's warehouse."""
    from grading_pipeline.cleanup import restore_from_backup
    from grading_pipeline.definitions import build_definitions
    from grading_pipeline.errors import GradingError

    if args.restore:
        try:
            rows = restore_from_backup(_warehouse(), args.restore)
        except (ValueError, GradingError) as error:  # a wrong name: nothing was changed
            print(f"grading-pipeline cleanup --restore: {error}; nothing changed", file=sys.stderr)
            return 2
        print(f"Restored nba_predictions.prediction_accuracy from {args.restore}: {rows:,} rows")
        return 0
    job = build_definitions().resolve_job_def("cleanup_duplicates")
    run_config = {
        "ops": {"deduplicate_prediction_accuracy": {"config": {"dry_run": args.dry_run}}},
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
    }
    result = job.execute_in_process(instance=_instance(), run_config=run_config, raise_on_error=False)
    for step, message in step_failures(result):
        print(f"cleanup failed in {step}: {message}", file=sys.stderr)
    if result.success:
        outcome = result.output_for_node("deduplicate_prediction_accuracy")
        print(f"Cleanup {'(dry run) ' if args.dry_run else ''}run {result.run_id}: {outcome}")
    return 0 if result.success else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from grading_pipeline.bench import (
        cleanup_figures,
        lock_latencies,
        observation_figures,
        print_benchmark,
        print_cleanup,
        print_locks,
        print_observations,
        run_benchmark,
    )

    figures = run_benchmark(args.season_days, args.per_day, args.repeats, ui=not args.skip_ui,
                            ui_backfill=not args.skip_ui_backfill)
    print_benchmark(figures)
    print_locks(lock_latencies(args.lock_cycles), figures["one_launched"])
    print_observations(observation_figures())
    if not args.skip_cleanup:
        print_cleanup(cleanup_figures())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grading-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def add_sample_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--start", type=_date, default=None,
                       help="first date (default: GRADING_SEASON_START, where the partitions begin)")
        p.add_argument("--days", type=int, default=None, help="calendar days (default: up to yesterday, UTC)")
        p.add_argument("--per-day", type=int, default=600, help="predictions per game day (default %(default)s)")
        p.add_argument("--seed", type=int, default=7)

    def add_range(p: argparse.ArgumentParser) -> None:
        p.add_argument("--start", type=_date, required=True)
        p.add_argument("--end", type=_date, required=True, help="inclusive")

    p = commands.add_parser("sample-data", help="load a deterministic sample season into the local warehouse")
    add_sample_options(p)
    p.set_defaults(func=cmd_sample_data)

    p = commands.add_parser("demo", help="sample data, then grade every sample date, then print a summary")
    add_sample_options(p)
    p.add_argument("--verbose", action="store_true", help="show Dagster's event log")
    p.set_defaults(func=cmd_demo)

    p = commands.add_parser("grade", help="materialize both assets for a date range in one Dagster run")
    add_range(p)
    p.add_argument("--verbose", action="store_true", help="show Dagster's event log")
    p.add_argument("--allow-empty-replace", action="store_true",
                   help="let a graded date whose inputs are now empty be replaced by nothing")
    p.set_defaults(func=cmd_grade)

    p = commands.add_parser("summary", help="per-date figures of the graded table")
    add_range(p)
    p.set_defaults(func=cmd_summary)

    p = commands.add_parser("scorecard", help="rank the systems over a trailing window: win rate, its 95%% interval, ROI")
    p.add_argument("--date", type=_date, default=None, help="the window's last date (default: the newest scored)")
    p.add_argument("--window", type=int, default=30, help="1, 7 or 30 days (default %(default)s)")
    p.set_defaults(func=cmd_scorecard)

    p = commands.add_parser("sweep", help="deployment gate: exit 1 when any duplicate business key exists in the last N days")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--end", type=_date, default=None, help="last date swept (default: yesterday, UTC)")
    p.set_defaults(func=cmd_sweep)

    p = commands.add_parser("status", help="deployment gate: exit 1 when a recent date is not graded, late, or graded from inputs that changed since")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--end", type=_date, default=None, help="last date (default: yesterday, UTC)")
    p.set_defaults(func=cmd_status)

    p = commands.add_parser("locks", help="list partition locks, or force-release one")
    locks = p.add_subparsers(dest="locks_command", required=True)
    q = locks.add_parser("list", help="held, expired and released locks with their holders")
    q.add_argument("--lock-type", default=None, help="e.g. grading, daily_performance")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_locks)
    q = locks.add_parser("release", help="force-release one lock, naming the holder removed")
    q.add_argument("lock_type")
    q.add_argument("game_date", type=_date)
    q.set_defaults(func=cmd_locks)

    p = commands.add_parser("cleanup", help="deduplicate prediction_accuracy (report, backup, dedupe, validate, swap)")
    p.add_argument("--dry-run", action="store_true", help="report only")
    p.add_argument("--restore", metavar="BACKUP_TABLE", help="put a backup table's rows back instead")
    p.set_defaults(func=cmd_cleanup)

    p = commands.add_parser("bench", help="time the launched path next to `import dagster` and the bare grading SQL")
    p.add_argument("--season-days", type=int, default=180)
    p.add_argument("--per-day", type=int, default=1000, help="predictions per date (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lock-cycles", type=int, default=200)
    p.add_argument("--skip-cleanup", action="store_true", help="skip the 500k-row cleanup figures")
    p.add_argument("--skip-ui", action="store_true", help="skip the runs launched through dagster dev (the UI's path)")
    p.add_argument("--skip-ui-backfill", action="store_true",
                   help="skip the UI backfill (about a minute: Dagster's backfill daemon ticks every 30 s)")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # Dagster flags its beta parameters (backfill_policy) at import; not news to a user of the CLI.
    warnings.filterwarnings("ignore", category=Warning, module="dagster")
    # ... and its preview features (partitioned asset checks), flagged where the project uses them.
    warnings.filterwarnings("ignore", message=r".*is currently in (preview|beta)")
    args = build_parser().parse_args(argv)
    if getattr(args, "end", None) and getattr(args, "start", None) and args.end < args.start:
        print("--end is before --start", file=sys.stderr)
        return 2
    from grading_pipeline.errors import GradingError
    from grading_pipeline.locks.lease import LockError

    try:
        return args.func(args)
    except (GradingError, LockError) as error:  # the project's own errors say what is wrong: a trace would bury it
        print(f"grading-pipeline {args.command}: {type(error).__name__}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

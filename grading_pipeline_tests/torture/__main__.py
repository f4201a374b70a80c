"""`python -m grading_pipeline_tests.torture` (`make torture`): see the package's docstring."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

SCENARIOS = ("1", "2", "3", "4", "5")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m grading_pipeline_tests.torture",
        description="Real processes against one DuckDB warehouse: concurrency, SIGKILL, stale holders, lock "
                    "backend loss, range backfills. Prints one table; exit 1 when an invariant is violated.")
    parser.add_argument("--quick", action="store_true", help="about a minute: fewer processes, rounds and kills")
    parser.add_argument("--concurrent", type=int, help="scenario 1: processes per round (default 8; quick 3)")
    parser.add_argument("--rounds", type=int, help="scenario 1: rounds per config (default 2; quick 1)")
    parser.add_argument("--kills", type=int, help="scenario 2: SIGKILLs (default 6; quick 2)")
    parser.add_argument("--lease", type=float, default=3.0, help="short lease of scenarios 2-4, seconds (default 3)")
    parser.add_argument("--resume-after", type=float, default=3.0,
                        help="scenario 3b: SIGCONT this long after the successor took the lock (default 3 s)")
    parser.add_argument("--range-days", type=int, help="scenario 5: dates of the range run (default 7; quick 4)")
    parser.add_argument("--singles", type=int, help="scenario 5: single-date runs inside it (default 3; quick 2)")
    parser.add_argument("--per-day", type=int, default=1000, help="sample predictions per date (default 1000)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios to run, e.g. 1,3 (default all)")
    parser.add_argument("--seconds", type=float, help="soft time budget: stop adding rounds/kills past it")
    parser.add_argument("--seed", type=int, help="random kill points (default: from the clock; printed)")
    parser.add_argument("--strict-stale", action="store_true",
                        help="count a stale COMMIT that its successor then replaces (3b) as a violation too")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, warehouses)")
    args = parser.parse_args(argv)
    quick = args.quick
    for name, default, quick_default in (("concurrent", 8, 3), ("rounds", 2, 1), ("kills", 6, 2),
                                         ("range_days", 7, 4), ("singles", 3, 2)):
        if getattr(args, name) is None:
            setattr(args, name, quick_default if quick else default)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in args.only if s not in SCENARIOS]
    if unknown:
        parser.error(f"--only: no scenario {unknown}; choose from {','.join(SCENARIOS)}")
    if args.seed is None:
        args.seed = int(time.time()) % 100_000
    return args


def progress(started: float, text: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="grading-torture-"))
    os.environ["GRADING_SQL_CACHE_DIR"] = str(folder / "sql-cache")  # the parent's translations too
    print(f"torture: temp folder {folder}", file=sys.stderr)
    keep = args.keep
    try:
        code_status = run_suite(args, folder, started)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code_status = 130
    finally:
        from grading_pipeline_tests.torture.common import Process

        Process.kill_all()
    if code_status == 1:
        keep = True  # the logs of the violations
    if keep:
        print(f"kept {folder} (rm -rf it when done)")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return code_status


def run_suite(args: argparse.Namespace, folder: Path, started: float) -> int:
    from grading_pipeline_tests.torture import common
    from grading_pipeline_tests.torture.common import Budget, Row, Workspace
    from grading_pipeline_tests.torture.report import render

    budget = Budget(args.seconds)
    days = max(args.range_days, 1)
    try:
        ws = Workspace(folder, days, args.per_day)
        ws.prepare()
    except Exception:
        print("torture: cannot import or set up grading_pipeline:\n" + traceback.format_exc(limit=4), file=sys.stderr)
        return 2
    ws.location_note = f"launched runs: dagster asset materialize -m {ws.location}"
    progress(started, ws.location_note)
    warm = ws.outcome(ws.launch("warm-up", ws.env(ws.new_warehouse("warm"), ws.lock_file("warm")), ws.start),
                      timeout=300)
    if not warm.ok:
        print(f"torture: the warm-up launched run failed: {warm.message}\n{Path(warm.log).read_text()[-3000:]}",
              file=sys.stderr)
        return 2
    ws.one_run_seconds = warm.seconds
    progress(started, f"warm-up, one launched date: {warm.seconds:.2f} s ({ws.predictions:,} sample predictions "
                      f"over {days} dates, seed {args.seed})")

    from grading_pipeline_tests.torture import s1_concurrent, s2_sigkill, s3_stale, s4_backend, s5_backfill

    modules = {"1": s1_concurrent, "2": s2_sigkill, "3": s3_stale, "4": s4_backend, "5": s5_backfill}
    rows: list[Row] = []
    for key in args.only:
        module = modules[key]
        progress(started, f"scenario {module.NAME} ...")
        try:
            rows += module.run(ws, args, budget)
        except Exception as error:
            crashed = Row(module.NAME, "the scenario itself crashed")
            crashed.violate(f"{module.NAME}: harness error {type(error).__name__}: {error}")
            crashed.extra.append(traceback.format_exc(limit=3).strip().splitlines()[-1])
            print(traceback.format_exc(), file=sys.stderr)
            rows.append(crashed)
        finally:
            common.Process.kill_all()

    wall = time.monotonic() - started
    print()
    print(render(rows))
    print()
    if any(not row.gating for row in rows):
        print("* not gating (informational): its figures never fail the verdict.")
    print(f"{ws.location_note}.")
    violations = [v for row in rows for v in row.violations]
    logs = [entry for row in rows for entry in row.failure_logs]
    if logs:
        kept = args.keep or bool(violations)
        print("stderr of the failed runs" + ("" if kept else " (removed with the temp folder at exit; --keep keeps it)") + ":")
        for entry in logs:
            print(f"  {entry}")
    if budget.cuts:
        print(f"cut by --seconds: {', '.join(budget.cuts)}")
    print(f"wall time {wall:.0f} s on {os.cpu_count()} cores; seed {args.seed}")
    if violations:
        print(f"VERDICT: FAIL, {len(violations)} invariant violation(s):")
        for violation in violations:
            print(f"  - {violation}")
        return 1
    print(f"VERDICT: PASS, no invariant violated over {sum(r.runs for r in rows)} processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Scenario 5: a single-run range backfill (`--partition-range FIRST...LAST`) racing single-date
launched runs of dates inside its range: all finish within the wait budget (no deadlock), no
duplicates, every date equal to a clean grading of the range."""

from __future__ import annotations

import random
import time

from grading_pipeline_tests.torture.common import Budget, Row, Workspace, compare, percentiles

NAME = "5 range vs singles"


def run(ws: Workspace, options, budget: Budget) -> list[Row]:
    dates = ws.dates[: options.range_days]
    first, last = dates[0], dates[-1]
    inside = dates[1:-1] or dates
    singles = [inside[round(i * (len(inside) - 1) / max(1, options.singles - 1))] for i in range(options.singles)]
    wait_budget = 120
    row = Row(NAME, f"{first}..{last} ({len(dates)} dates) + {len(singles)} single runs")
    database = ws.new_warehouse("s5")
    env = ws.env(database, ws.lock_file("s5"), GRADING_LOCK_MAX_WAIT_SECONDS=str(wait_budget))
    rng = random.Random(options.seed + 5)
    started = time.monotonic()
    processes = [ws.launch("s5-range", env, first, last)]
    for date in singles:
        time.sleep(rng.uniform(0.0, 1.0))
        processes.append(ws.launch(f"s5-single-{date}", env, date))
    seconds = []
    for process in processes:
        outcome = ws.outcome(process, timeout=wait_budget + 180)
        row.count(outcome)
        seconds.append(outcome.seconds)
        if not outcome.ok:
            row.violate(f"{process.label} did not finish well: {outcome.message} ({outcome.log})")
    wall = time.monotonic() - started
    duplicates = ws.duplicates(database)
    row.duplicates = sum(duplicates.values())
    problems = compare(ws.fingerprints(database), ws.clean(first, last), dates)
    row.unequal = len(problems)
    row.extra.append(f"all done in {wall:.1f} s (wait budget {wait_budget} s); run {percentiles(seconds)} s p50/max")
    row.extra.append(f"range run {seconds[0]:.1f} s; singles: {', '.join(str(d)[5:] for d in singles)}")
    if duplicates:
        row.violate(f"duplicate keys {duplicates}")
    for problem in problems:
        row.violate(f"not equal to a clean grading: {problem}")
    return [row]

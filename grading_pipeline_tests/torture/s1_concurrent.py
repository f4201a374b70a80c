"""Scenario 1: N concurrent launched materializations of one date, R rounds, per lock config."""

from __future__ import annotations

import os
import secrets
import time

from grading_pipeline_tests.torture.common import Budget, Row, Workspace, compare, percentiles, runs_metadata

NAME = "1 concurrent"


def configs() -> list[tuple[str, str, dict[str, str] | None, bool]]:
    """(config, slug, extra environment or None when skipped, gating)."""
    firestore = None
    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        firestore = {"GRADING_LOCK_BACKEND": "firestore",
                     "GRADING_FIRESTORE_PROJECT": f"torture-{secrets.token_hex(4)}"}
    return [
        ("lock on, sqlite", "sqlite", {}, True),
        ("lock on, firestore", "firestore", firestore, True),
        ("lock off (GRADING_USE_LOCK=false)", "nolock", {"GRADING_USE_LOCK": "false"}, False),
    ]


def run(ws: Workspace, options, budget: Budget) -> list[Row]:
    rows = []
    date = ws.start
    expected = ws.clean(date)
    for config, slug, extra, gating in configs():
        row = Row(NAME, f"{config}, {options.concurrent} procs x {options.rounds}", gating=gating)
        rows.append(row)
        if extra is None:
            row.extra.append("skipped: no emulator")
            continue
        database = ws.new_warehouse(f"s1_{slug}")
        env = ws.env(database, ws.lock_file(f"s1_{slug}"), **extra)
        round_seconds, run_seconds, run_ids = [], [], []
        for round_ in range(options.rounds):
            if round_ and not budget.allows(ws.one_run_seconds * options.concurrent / 2, f"{NAME} {slug} round {round_ + 1}"):
                row.extra.append(f"cut by --seconds after {round_} round(s)")
                break
            started = time.monotonic()
            processes = [ws.launch(f"s1-{slug}-r{round_ + 1}-{i + 1}", env, date) for i in range(options.concurrent)]
            for process in processes:
                outcome = ws.outcome(process, timeout=float(env["GRADING_LOCK_MAX_WAIT_SECONDS"]) + 180)
                row.count(outcome)
                run_seconds.append(outcome.seconds)
                if outcome.ok:
                    run_ids.append(outcome.detail.get("run_id"))
            round_seconds.append(time.monotonic() - started)
        duplicates = ws.duplicates(database)
        row.duplicates = sum(duplicates.values())
        problems = compare(ws.fingerprints(database), expected, [date])
        row.unequal = len(problems)
        row.extra.append(f"round {percentiles(round_seconds)} s p50/max; run {percentiles(run_seconds)} s")
        accuracy = [m.get("prediction_accuracy", {}) for m in runs_metadata(ws.home, run_ids).values()]
        waits = [m["lock_wait_seconds"] for m in accuracy if isinstance(m.get("lock_wait_seconds"), (int, float))]
        held = sum(1 for m in accuracy if m.get("lock_held") is True)
        row.extra.append(f"lock wait {percentiles(waits)} s p50/max; metadata lock_held=true {held}/{len(accuracy)}")
        if duplicates:
            row.violate(f"{config}: duplicate keys {duplicates}")
        for problem in problems:
            row.violate(f"{config}: not equal to a clean grading: {problem}")
        if row.ok != row.runs:
            row.violate(f"{config}: {row.runs - row.ok} of {row.runs} runs failed ({dict(row.failed)})")
    return rows

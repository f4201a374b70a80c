"""Scenario 3: a stale holder. A child holder SIGSTOPs itself (every thread, its lease renewal too)
past its lease, a launched successor takes the lock, then the stale one gets SIGCONT:

(a) before-open: it holds the locks, has not opened the warehouse. The successor grades new
    inputs and commits; the inputs change once more before SIGCONT, so that a stale write would
    show in the data.
(b) before-commit: inside its write's transaction, just before COMMIT. It holds DuckDB's file lock,
    so the successor (lock taken over) waits for the file and nothing can change the inputs: the
    stale one is resumed a few seconds into that wait. The date must end as the successor's write
    (the same inputs: told apart by its transaction time, after the stale one was stopped)."""

from __future__ import annotations

import datetime as dt
import signal
import time

from grading_pipeline_tests.torture.common import Budget, Row, Workspace, compare, lock_record

NAME = "3 stale holder"


def _stale_outcome(report: dict) -> str:
    if report.get("committed"):
        after = f", then {report['error_class']}" if report.get("error_class") else ", run succeeded"
        return f"COMMITTED{after}"
    if report.get("error_class"):
        return report["error_class"]
    return "no commit, no error" if report else "no report"


def run(ws: Workspace, options, budget: Budget) -> list[Row]:
    rows = []
    for point in ("before-open", "before-commit"):
        if rows and not budget.allows(25, f"{NAME} {point}"):
            break
        rows.append(_case(ws, options, point))
    return rows


def _case(ws: Workspace, options, point: str) -> Row:
    date = ws.start
    lease = options.lease
    tag = "a" if point == "before-open" else "b"
    row = Row(NAME, f"({tag}) SIGSTOP {point}, lease {lease:g} s")
    database = ws.new_warehouse(f"s3{tag}")
    lock_path = ws.lock_file(f"s3{tag}")
    env = ws.env(database, lock_path, GRADING_LOCK_LEASE_SECONDS=str(lease),
                 GRADING_LOCK_MAX_WAIT_SECONDS="60", GRADING_LOCK_POLL_SECONDS="0.05",
                 GRADING_DUCKDB_OPEN_TIMEOUT_SECONDS="60")
    stale = ws.child(f"s3{tag}-stale", env, date, pause=point, how="stop")
    if not stale.wait_until(lambda: stale.state() == "T", timeout=90):
        row.count(ws.child_outcome(stale, timeout=30))
        row.violate(f"({tag}) the stale holder never reached {point}")
        return row
    stopped_at = time.time()
    held = lock_record(lock_path, "grading", date) or {}
    time.sleep(lease + 1.0)
    version = 0
    if point == "before-open":
        ws.mutate(database, date)  # the successor's inputs
        version = 1
    successor = ws.launch(f"s3{tag}-successor", env, date)
    successor_version = version
    resumed_after = ""
    if point == "before-open":
        done = ws.outcome(successor, timeout=120)
        ws.mutate(database, date)  # what the stale one would grade if it wrote after all
        stale.signal(signal.SIGCONT)
    else:
        def taken_over() -> bool:
            record = lock_record(lock_path, "grading", date) or {}
            return bool(record.get("holder_id")) and record.get("holder_id") != held.get("holder_id")

        if successor.wait_until(taken_over, timeout=60):
            acquired = time.time()
            time.sleep(options.resume_after)
            resumed_after = f"resumed {time.time() - acquired:.1f} s after the successor took the lock"
        else:
            resumed_after = "successor's takeover not seen in the lock store; resumed after 60 s"
        stale.signal(signal.SIGCONT)
        done = None
    stale_outcome = ws.child_outcome(stale, timeout=90)
    if done is None:
        done = ws.outcome(successor, timeout=120)
    row.count(stale_outcome, expected_failure=True)
    row.count(done)
    report = stale_outcome.detail
    expected = ws.clean(date, versions={date: successor_version})
    state = ws.fingerprints(database)
    problems = compare(state, expected, [date])
    newest = state.get(("nba_predictions.prediction_accuracy", date), {}).get("newest")
    by_successor = newest is not None and newest.replace(tzinfo=dt.timezone.utc).timestamp() > stopped_at
    # A stale write whose rows are still there at the end (one its successor replaced is said below).
    row.stale_commits = 1 if report.get("committed") and (problems or not by_successor) else 0
    row.duplicates = sum(ws.duplicates(database).values())
    row.unequal = len(problems) + (0 if by_successor else 1)
    row.extra.append(f"stale: {_stale_outcome(report)}")
    if report.get("error_message"):
        row.extra.append(f"  {report['error_message'][:110]}")
    row.extra.append(f"successor: {'ok' if done.ok else done.message}; date = successor's write: "
                     f"{'yes' if not problems and by_successor else 'NO'}")
    if resumed_after:
        row.extra.append(resumed_after)
    if not done.ok:
        row.violate(f"({tag}) the successor failed: {done.message} ({done.log})")
    for problem in problems:
        row.violate(f"({tag}) not the successor's version: {problem}")
    if not by_successor:
        row.violate(f"({tag}) the date's rows were not written by the successor (newest graded_at {newest})")
    if row.duplicates:
        row.violate(f"({tag}) duplicate keys after the stale holder resumed")
    if report.get("committed"):
        commit = next((e["time"] for e in report.get("events", []) if e["event"] == "committed"), None)
        if point == "before-open" or options.strict_stale:
            row.violate(f"({tag}) the stale holder COMMITTED after its lease was taken over")
        else:
            row.extra.append("stale COMMIT ran before the successor's write (file lock), then replaced"
                             + (f"; committed {commit - stopped_at:.1f} s after the stop" if commit else ""))
    return row

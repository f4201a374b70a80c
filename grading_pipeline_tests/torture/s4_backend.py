"""Scenario 4: the lock backend goes away.

* mid-run (a child holder waits, threads running, after taking its locks while the store is made
  unusable for longer than its lease): SQLite (the lock file replaced by a folder) and, with an
  emulator, Firestore (through a loopback proxy that is then cut). The run must fail closed and
  leave the previous version.
* unreachable from the start: a launched run fails closed by default, and with
  GRADING_LOCK_PROCEED_WHEN_UNAVAILABLE=true writes unlocked, its metadata saying lock_held=false.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from grading_pipeline_tests.support.services import free_port
from grading_pipeline_tests.torture.common import Budget, Row, Workspace, compare, run_metadata
from grading_pipeline_tests.torture.proxy import TcpProxy

NAME = "4 backend down"
LOCK_ERRORS = ("Lock", "Fenced")


def run(ws: Workspace, options, budget: Budget) -> list[Row]:
    rows = [_mid_run(ws, options, "sqlite")]
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        rows.append(Row(NAME, "firestore cut mid-run", extra=["skipped: no emulator"]))
    elif options.quick:
        rows.append(Row(NAME, "firestore cut mid-run", extra=["skipped in --quick (~35 s)"]))
    elif budget.allows(40, f"{NAME} firestore mid-run"):
        rows.append(_mid_run(ws, options, "firestore"))
    starts = [("sqlite", False), ("sqlite", True)]
    if not options.quick:
        starts.append(("firestore", True))
    for backend, proceed in starts:
        if budget.allows(15, f"{NAME} {backend} unreachable"):
            rows.append(_from_start(ws, backend, proceed))
    return rows


def _break_sqlite(lock_path: Path) -> list[tuple[Path, Path]]:
    moved = []
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{lock_path}{suffix}")
        if path.exists():
            target = Path(f"{path}.moved")
            path.rename(target)
            moved.append((target, path))
    lock_path.mkdir()
    return moved


def _restore_sqlite(lock_path: Path, moved: list[tuple[Path, Path]]) -> None:
    if lock_path.is_dir():
        lock_path.rmdir()
    for target, path in moved:
        target.rename(path)


def _mid_run(ws: Workspace, options, backend: str) -> Row:
    date = ws.start
    lease = options.lease
    row = Row(NAME, f"{backend} {'file -> folder' if backend == 'sqlite' else 'proxy cut'} mid-run, lease {lease:g} s")
    database = ws.new_warehouse(f"s4_{backend}")
    lock_path = ws.lock_file(f"s4_{backend}")
    extra = {"GRADING_LOCK_LEASE_SECONDS": str(lease), "GRADING_LOCK_MAX_WAIT_SECONDS": "30",
             "GRADING_LOCK_POLL_SECONDS": "0.05"}
    proxy = None
    if backend == "firestore":
        proxy = TcpProxy(os.environ["FIRESTORE_EMULATOR_HOST"])
        extra.update(GRADING_LOCK_BACKEND="firestore", FIRESTORE_EMULATOR_HOST=proxy.host_port,
                     GRADING_FIRESTORE_PROJECT=f"torture-{secrets.token_hex(4)}")
    env = ws.env(database, lock_path, **extra)
    try:
        baseline = ws.outcome(ws.launch(f"s4-{backend}-baseline", env, date), timeout=120)
        row.count(baseline)
        if not baseline.ok:
            row.violate(f"{backend}: the baseline run failed: {baseline.message} ({baseline.log})")
            return row
        previous = ws.clean(date)
        ws.mutate(database, date)
        go = ws.folder / f"go-s4-{backend}"
        holder = ws.child(f"s4-{backend}-holder", env, date, pause="before-open", how="gofile", go_file=go)
        if not holder.wait_until(lambda: "TORTURE paused" in holder.stdout(), timeout=90):
            row.count(ws.child_outcome(holder, timeout=30))
            row.violate(f"{backend}: the holder never reached before-open")
            return row
        moved = []
        if backend == "sqlite":
            moved = _break_sqlite(lock_path)
            wait = lease + 2.0
        else:
            proxy.stop()
            wait = lease + 5.0 + 2.0  # a Firestore call's own deadline (5 s) before it counts as failed
        cut_at = time.time()
        time.sleep(wait)
        go.touch()
        outcome = ws.child_outcome(holder, timeout=90)
        if backend == "sqlite":
            _restore_sqlite(lock_path, moved)
        row.count(outcome, expected_failure=True)
        report = outcome.detail
        row.stale_commits = 1 if report.get("committed") else 0
        problems = compare(ws.fingerprints(database), previous, [date])
        row.duplicates = sum(ws.duplicates(database).values())
        row.unequal = len(problems)
        message = f"{report.get('error_class', '?')}: {report.get('error_message', '')}"
        row.extra.append(f"store unusable {wait:.0f} s; the run: {'SUCCEEDED' if outcome.ok else 'failed closed'} "
                         f"after {(holder.ended or time.time()) - cut_at:.1f} s")
        row.extra.append(f"  {message[:110]}")
        if outcome.ok or report.get("committed"):
            row.violate(f"{backend}: the run wrote although its lock store was gone for {wait:.0f} s")
        elif not report.get("error_class", "").startswith(LOCK_ERRORS):
            row.violate(f"{backend}: failed, but not with a lock error: {message}")
        for problem in problems:
            row.violate(f"{backend}: the previous version did not stay: {problem}")
    finally:
        if proxy is not None:
            proxy.stop()
    return row


def _from_start(ws: Workspace, backend: str, proceed: bool) -> Row:
    date = ws.start
    slug = f"{backend}-{'proceed' if proceed else 'closed'}"
    how = "lock path is a folder" if backend == "sqlite" else "emulator host: a closed port"
    row = Row(NAME, f"{backend} unreachable from start ({how}), proceed={'true' if proceed else 'false'}")
    database = ws.new_warehouse(f"s4_{slug}")
    lock_path = ws.folder / f"s4_{slug}_folder"
    lock_path.mkdir()
    extra = {"GRADING_LOCK_PROCEED_WHEN_UNAVAILABLE": "true" if proceed else "false",
             "GRADING_LOCK_MAX_WAIT_SECONDS": "10"}
    if backend == "firestore":
        extra.update(GRADING_LOCK_BACKEND="firestore", FIRESTORE_EMULATOR_HOST=f"127.0.0.1:{free_port()}",
                     GRADING_FIRESTORE_PROJECT=f"torture-{secrets.token_hex(4)}")
    env = ws.env(database, lock_path, **extra)
    outcome = ws.outcome(ws.launch(f"s4-{slug}", env, date), timeout=180)
    row.count(outcome, expected_failure=not proceed)
    row.duplicates = sum(ws.duplicates(database).values())
    state = ws.fingerprints(database)
    if proceed:
        problems = compare(state, ws.clean(date), [date])
        row.unequal = len(problems)
        metadata = run_metadata(ws.home, outcome.detail.get("run_id")) if outcome.ok else {}
        held = {asset: m.get("lock_held") for asset, m in metadata.items()}
        reason = next((m.get("lock_unlocked_reason") for m in metadata.values() if m.get("lock_unlocked_reason")), "")
        row.extra.append(f"{outcome.seconds:.1f} s; lock_held per asset: {held or 'no metadata'}")
        if reason:
            row.extra.append(f"  lock_unlocked_reason: {str(reason)[:100]}")
        if not outcome.ok:
            row.violate(f"{slug}: the run did not proceed: {outcome.message} ({outcome.log})")
        elif not held or any(value is not False for value in held.values()):
            row.violate(f"{slug}: materialization metadata does not say lock_held=false: {held}")
        for problem in problems:
            row.violate(f"{slug}: not equal to a clean grading: {problem}")
    else:
        row.unequal = 1 if state else 0
        row.extra.append(f"{outcome.seconds:.1f} s; {outcome.detail.get('error_class', '')}: "
                         f"{outcome.detail.get('error_message', '')[:90]}")
        if outcome.ok or state:
            row.violate(f"{slug}: wrote without its lock store (fail closed expected)")
    return row

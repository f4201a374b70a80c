"""The torture suite's workspace: one temp folder holding a prepared warehouse (sample inputs), the
Dagster instance every launched run shares, the logs of every process; launching and stopping
processes (each in its own process group, only ever by its own id); and the figures read from a
warehouse file afterwards (duplicates, each date's fingerprint against a clean grading)."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PREDICTIONS = "nba_predictions.player_prop_predictions"
ACCURACY = "nba_predictions.prediction_accuracy"
# Columns that differ between two gradings of the same inputs (when, by which run / holder).
RUN_COLUMNS = {"graded_at", "computed_at", "run_id", "dagster_run_id", "graded_by_run", "fencing_token", "holder_id",
               "lock_holder", "written_by", "written_at"}
KEYS = {
    "nba_predictions.system_daily_performance": ("game_date", "system_id"),
    "nba_predictions.system_scorecard": ("game_date", "system_id", "window_days"),
}
DAGSTER_WRAPPERS = ("Dagster", "Check")
VERSION_STEP = 0.5  # each input version adds this to the date's predicted_points


# -- the table's rows -------------------------------------------------------------------------

@dataclass
class Row:
    scenario: str
    config: str
    runs: int = 0
    ok: int = 0
    failed: collections.Counter = field(default_factory=collections.Counter)
    duplicates: int | None = None
    unequal: int | None = None
    stale_commits: int | None = None  # stale writes whose rows remain at the end
    extra: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    failure_logs: list[str] = field(default_factory=list)
    gating: bool = True  # False: informational (e.g. lock off), never a violation

    def count(self, run: "Outcome", expected_failure: bool = False) -> None:
        """One more process; `expected_failure`: this one is meant to fail (a stale holder, a
        fail-closed run): its failure is data, never a violation by itself."""
        self.runs += 1
        if run.ok:
            self.ok += 1
        else:
            self.failed[run.message] += 1
            if run.log:
                self.failure_logs.append(f"{run.label}: {run.log}{' (meant to fail)' if expected_failure else ''}")

    def violate(self, what: str) -> None:
        if self.gating:
            self.violations.append(what)
        else:
            self.extra.append(f"(not gating) {what}")


@dataclass
class Outcome:
    label: str
    ok: bool
    message: str  # short, for grouping ("" when ok)
    seconds: float
    log: str = ""  # stderr path
    detail: dict = field(default_factory=dict)


class Budget:
    """--seconds: a soft budget; loops stop adding iterations when it runs out (and say so)."""

    def __init__(self, seconds: float | None) -> None:
        self.started = time.monotonic()
        self.seconds = seconds
        self.cuts: list[str] = []

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def allows(self, estimate: float, what: str) -> bool:
        if self.seconds is None or self.elapsed() + estimate <= self.seconds:
            return True
        self.cuts.append(what)
        return False


# -- processes --------------------------------------------------------------------------------

class Process:
    """A process of ours in its own process group (start_new_session), stdout/stderr to files."""

    live: dict[int, "Process"] = {}  # every group still to be reaped, for the final clean-up

    def __init__(self, label: str, argv: list[str], env: dict[str, str], cwd: Path, logs: Path) -> None:
        self.label = label
        self.stdout_path = logs / f"{label}.out"
        self.stderr_path = logs / f"{label}.err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.started = time.time()
            self.popen = subprocess.Popen(argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=err, start_new_session=True)
        self.pid = self.popen.pid
        self.ended: float | None = None  # when it exited (seen by its own waiter thread)
        self.killed_by_us = False
        Process.live[self.pid] = self
        self._waiter = threading.Thread(target=self._watch, name=f"wait-{label}", daemon=True)
        self._waiter.start()

    def _watch(self) -> None:
        self.popen.wait()
        self.ended = time.time()

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode if self.ended is not None else None

    def wait(self, timeout: float) -> int | None:
        """The exit code; None (and the group killed) when it did not end within `timeout`."""
        self._waiter.join(timeout)
        if self._waiter.is_alive():
            self.kill_group(signal.SIGKILL)
            self._waiter.join()
            self._reap()
            return None
        self._reap()
        return self.popen.returncode

    def _reap(self) -> None:
        # The CLI's helpers (compute-log tails, orphan watchers) share the group: end them too.
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        Process.live.pop(self.pid, None)

    def kill_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def signal(self, sig: int) -> None:
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def state(self) -> str:
        """/proc/PID/stat's state letter ('T' stopped, 'Z' zombie, ...); '' when gone."""
        try:
            text = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return ""
        return text[text.rindex(")") + 2:].split()[0]

    def wait_until(self, predicate, timeout: float, poll: float = 0.05) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            if self.returncode is not None:
                return bool(predicate())
            time.sleep(poll)
        return False

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @classmethod
    def kill_all(cls) -> None:
        for process in list(cls.live.values()):
            process.kill_group(signal.SIGCONT)
            process.kill_group(signal.SIGKILL)
            process._waiter.join(10)
            cls.live.pop(process.pid, None)


_ERROR_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*\.)?([A-Z]\w*(?:Error|Exception|Timeout\w*|Interrupt))(?::\s*(.*))?$")
_RUN_ID = re.compile(r" - ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}) - ")


def error_of(text: str) -> tuple[str, str]:
    """(class, message) of the innermost non-Dagster error a launched run printed, else its last
    error line, else ('', '')."""
    found = []
    for line in text.splitlines():
        match = _ERROR_LINE.match(line.strip())
        if match:
            found.append((match.group(1), (match.group(2) or "").strip()))
    for cls, message in found:
        if not cls.startswith(DAGSTER_WRAPPERS):
            return cls, message
    return found[-1] if found else ("", "")


def short_message(cls: str, message: str, width: int = 64) -> str:
    """A grouping key: the class and the message's first words, numbers and ids masked."""
    prefix = re.match(r"^[\w.]*" + re.escape(cls) + r":\s*", message) if cls else None
    message = message[prefix.end():] if prefix else message
    masked = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}[\w:.-]*", "<holder>", message)
    masked = re.sub(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)", "<date>", masked)
    masked = re.sub(r"nba_\w+\.(\w+)", r"\1", masked)
    masked = re.sub(r"/[\w./-]+", "<path>", masked)
    masked = re.sub(r"\d+(\.\d+)?", "#", masked)
    text = f"{cls}: {masked}" if cls else (masked or "failed (no error printed)")
    return text if len(text) <= width else text[: width - 3] + "..."


def run_id_of(text: str) -> str | None:
    match = _RUN_ID.search(text)
    return match.group(1) if match else None


def percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f}/{max(values):.2f}"


# -- the workspace ----------------------------------------------------------------------------

class Workspace:
    def __init__(self, folder: Path, days: int, per_day: int) -> None:
        self.folder = folder
        self.logs = folder / "logs"
        self.logs.mkdir()
        self.days = days
        self.per_day = per_day
        self.location = "grading_pipeline.definitions"
        self.location_note = ""
        self._labels: collections.Counter = collections.Counter()
        self._clean_cache: dict[Any, dict] = {}

    # setup
    def prepare(self) -> None:
        from grading_pipeline import bench

        self.start = bench.START
        prepared = bench.prepare(self.folder, self.days, self.per_day)
        self.base = prepared.database
        self.home = prepared.home
        self.predictions = prepared.predictions
        self.dagster = bench.dagster_cli()

    @property
    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    def new_warehouse(self, name: str) -> Path:
        path = self.folder / f"{name}.duckdb"
        shutil.copyfile(self.base, path)
        return path

    def lock_file(self, name: str) -> Path:
        return self.folder / f"{name}.locks.sqlite"

    def env(self, database: Path, lock_path: Path, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADING_")}
        path = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env.update({
            "GRADING_ENV": "local",
            "GRADING_DUCKDB_PATH": str(database),
            "GRADING_LOCK_PATH": str(lock_path),
            "GRADING_LOCK_BACKEND": "sqlite",
            "GRADING_USE_LOCK": "true",
            "GRADING_LOCK_PROCEED_WHEN_UNAVAILABLE": "false",
            "GRADING_SEASON_START": self.start.isoformat(),
            "GRADING_LOCK_LEASE_SECONDS": "30",
            "GRADING_LOCK_MAX_WAIT_SECONDS": "120",
            "GRADING_LOCK_POLL_SECONDS": "0.1",
            "GRADING_DUCKDB_OPEN_TIMEOUT_SECONDS": "120",
            "GRADING_SQL_CACHE_DIR": str(self.folder / "sql-cache"),
            "DAGSTER_HOME": str(self.home),
            "PYTHONPATH": os.pathsep.join(dict.fromkeys(path)),
        })
        env.update(extra)
        return env

    def label(self, stem: str) -> str:
        self._labels[stem] += 1
        return f"{stem}-{self._labels[stem]}" if self._labels[stem] > 1 else stem

    # processes
    def launch(self, stem: str, env: dict[str, str], date: dt.date | None = None,
               last: dt.date | None = None) -> Process:
        """`dagster asset materialize` of the grading group (three tables, their checks) for a date or
        a range (one run), in a process of its own: the path users run."""
        partition = (["--partition", date.isoformat()] if last is None
                     else ["--partition-range", f"{date.isoformat()}...{last.isoformat()}"])
        argv = [self.dagster, "asset", "materialize", "-m", self.location, "--select", "group:grading", *partition]
        return Process(self.label(stem), argv, env, self.folder, self.logs)

    def child(self, stem: str, env: dict[str, str], date: dt.date, pause: str = "none", how: str = "stop",
              go_file: Path | None = None) -> Process:
        label = self.label(stem)
        argv = [sys.executable, "-m", "grading_pipeline_tests.torture.child", date.isoformat(), "--pause", pause,
                "--how", how, "--report", str(self.logs / f"{label}.json")]
        if go_file is not None:
            argv += ["--go-file", str(go_file)]
        return Process(label, argv, env, self.folder, self.logs)

    def outcome(self, process: Process, timeout: float) -> Outcome:
        """Wait for a launched run and say how it ended."""
        code = process.wait(timeout)
        seconds = (process.ended or time.time()) - process.started
        if code is None:
            return Outcome(process.label, False, f"no end within {timeout:.0f} s (killed by torture)", seconds,
                           str(process.stderr_path))
        if process.killed_by_us:
            return Outcome(process.label, False, "SIGKILLed by torture", seconds, "")
        text = process.stderr()
        if code == 0:
            return Outcome(process.label, True, "", seconds, detail={"run_id": run_id_of(text)})
        cls, message = error_of(text)
        return Outcome(process.label, False, short_message(cls, message), seconds, str(process.stderr_path),
                       {"run_id": run_id_of(text), "error_class": cls, "error_message": message})

    def child_outcome(self, process: Process, timeout: float) -> Outcome:
        code = process.wait(timeout)
        seconds = (process.ended or time.time()) - process.started
        report_path = self.logs / f"{process.label}.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        if code is None:
            return Outcome(process.label, False, f"no end within {timeout:.0f} s (killed by torture)", seconds,
                           str(process.stderr_path), report)
        if report.get("success"):
            return Outcome(process.label, True, "", seconds, detail=report)
        cls, message = report.get("error_class", ""), report.get("error_message", "")
        if not cls:
            cls, message = error_of(process.stderr())
        return Outcome(process.label, False, short_message(cls, message), seconds, str(process.stderr_path), report)

    # the warehouse, read afterwards
    def connect(self, database: Path, timeout: float = 60.0):
        import duckdb

        deadline = time.monotonic() + timeout
        while True:
            try:
                con = duckdb.connect(str(database))
                con.execute("SET TimeZone = 'UTC'")
                return con
            except duckdb.Error as error:
                if time.monotonic() > deadline or "lock" not in str(error).lower():
                    raise
                time.sleep(0.05)

    def mutate(self, database: Path, date: dt.date, steps: int = 1) -> None:
        """A new input version of the date: its predictions' predicted_points move by 0.5 per step."""
        con = self.connect(database)
        try:
            con.execute(f"UPDATE {PREDICTIONS} SET predicted_points = predicted_points + $delta "
                        "WHERE game_date = $d", {"delta": VERSION_STEP * steps, "d": date})
        finally:
            con.close()

    def clean(self, first: dt.date, last: dt.date | None = None, versions: dict[dt.date, int] | None = None) -> dict:
        """Fingerprints of a clean grading of [first, last] (one publish, no lock) of the inputs with
        `versions` (date -> steps of `mutate`), in a warehouse file of its own."""
        last = last or first
        key = (first, last, tuple(sorted((versions or {}).items())))
        if key not in self._clean_cache:
            from grading_pipeline.grading import publish_dates
            from grading_pipeline.settings import yesterday
            from grading_pipeline.tables import SCORECARD_REACH_DAYS
            from grading_pipeline.warehouse import DuckDBWarehouse

            path = self.new_warehouse(f"clean_{len(self._clean_cache)}")
            for date, steps in (versions or {}).items():
                if steps:
                    self.mutate(path, date, steps)
            warehouse = DuckDBWarehouse(database=str(path))
            reach = min(last + dt.timedelta(days=SCORECARD_REACH_DAYS), yesterday())
            with warehouse.session() as session:
                published = publish_dates(session, first, last, reach_until=reach)
            if not published.committed:
                raise RuntimeError(f"the clean grading of {first}..{last} did not commit: {published.failure_message()}")
            self._clean_cache[key] = self.fingerprints(path)
            path.unlink()
        return self._clean_cache[key]

    def fingerprints(self, database: Path) -> dict:
        """(table, date) -> (rows, md5 of the sorted rows without run-specific columns, distinct
        graded_at/computed_at values) for every date of the graded tables."""
        from grading_pipeline.tables import GRADED_TABLES

        con = self.connect(database)
        try:
            found = {}
            for table in GRADED_TABLES:
                schema, name = table.name.split(".")
                columns = con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position", [schema, name]).fetchall()
                if not columns:
                    continue
                parts, stamp = [], None
                for column, kind in columns:
                    if column in RUN_COLUMNS:
                        stamp = stamp or (column if column in ("graded_at", "computed_at") else None)
                        continue
                    value = f"round({column}, 9)" if kind in ("DOUBLE", "FLOAT", "REAL") else column
                    parts.append(f"coalesce(CAST({value} AS VARCHAR), '<null>')")
                row = f"concat_ws('|', {', '.join(parts)})"
                stamps = f"count(DISTINCT {stamp})" if stamp else "1"
                for date, rows, digest, transactions, newest in con.execute(
                    f"SELECT game_date, count(*), md5(string_agg(r, chr(10) ORDER BY r)), {stamps}, "
                    f"{'max(' + stamp + ')' if stamp else 'NULL'} "
                    f"FROM (SELECT game_date, {row} AS r{', ' + stamp if stamp else ''} FROM {table.name}) "
                    "GROUP BY game_date"
                ).fetchall():
                    found[(table.name, date)] = {"rows": rows, "md5": digest, "transactions": transactions,
                                                 "newest": newest}
            return found
        finally:
            con.close()

    def duplicates(self, database: Path) -> dict[str, int]:
        """Business keys present more than once, per graded table (only tables with any)."""
        from grading_pipeline.tables import GRADED_TABLES

        try:
            from grading_pipeline.sql_catalog import business_key

            keys = {ACCURACY: tuple(business_key()), **KEYS}
        except Exception:
            keys = {ACCURACY: ("game_date", "player_lookup", "game_id", "system_id", "line_value"), **KEYS}
        con = self.connect(database)
        try:
            found = {}
            for table in GRADED_TABLES:
                key = ", ".join(keys[table.name])
                (count,) = con.execute(
                    f"SELECT count(*) FROM (SELECT {key} FROM {table.name} GROUP BY ALL HAVING count(*) > 1)"
                ).fetchone()
                if count:
                    found[table.name.split(".")[1]] = count
            return found
        finally:
            con.close()


def compare(actual: dict, expected: dict, dates: list[dt.date] | None = None) -> list[str]:
    """The dates whose rows (any graded table) differ from the clean grading, or that hold rows of
    more than one transaction; each with the reason."""
    wanted = set(dates) if dates else None
    problems: dict[dt.date, list[str]] = collections.defaultdict(list)
    for key in sorted(set(actual) | set(expected)):
        table, date = key
        if wanted is not None and date not in wanted:
            continue
        short = table.split(".")[1]
        got, want = actual.get(key), expected.get(key)
        if got is None:
            problems[date].append(f"{short} empty (clean: {want['rows']} rows)")
        elif want is None:
            problems[date].append(f"{short} has {got['rows']} rows (clean: none)")
        elif (got["rows"], got["md5"]) != (want["rows"], want["md5"]):
            problems[date].append(f"{short} differs ({got['rows']} rows, clean {want['rows']})")
        if got is not None and got["transactions"] > 1:
            problems[date].append(f"{short} mixes rows of {got['transactions']} transactions")
    return [f"{date}: {'; '.join(reasons)}" for date, reasons in sorted(problems.items())]


def same_version(actual: dict, expected: dict, dates: list[dt.date]) -> bool:
    return not compare(actual, expected, dates)


def lock_record(lock_path: Path, lock_type: str, date: dt.date) -> dict | None:
    """The SQLite lock store's row of (lock_type, date), read-only, whatever the table is called
    (any table with lock_type, game_date and holder columns); None when it cannot be read."""
    if not lock_path.is_file():
        return None
    try:
        con = sqlite3.connect(f"file:{lock_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None
    try:
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")').fetchall()]
            if {"lock_type", "game_date", "holder_id"} <= set(columns):
                row = con.execute(f'SELECT * FROM "{table}" WHERE lock_type = ? AND game_date = ?',
                                  (lock_type, date.isoformat())).fetchone()
                return dict(zip(columns, row)) if row else None
    except sqlite3.Error:
        return None
    finally:
        con.close()
    return None


def epoch(value: Any) -> float | None:
    """A lock record's time (epoch seconds, or an ISO text) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.timestamp()


def run_metadata(home: Path, run_id: str | None) -> dict[str, dict]:
    """asset (last path part) -> the materialization metadata of a launched run, from the instance."""
    return runs_metadata(home, [run_id]).get(run_id, {}) if run_id else {}


def runs_metadata(home: Path, run_ids: list[str | None]) -> dict[str, dict[str, dict]]:
    """run id -> asset -> the first materialization metadata of that asset in the run."""
    run_ids = [r for r in run_ids if r]
    if not run_ids:
        return {}
    from dagster import DagsterEventType, DagsterInstance

    saved = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with DagsterInstance.get() as instance:
            found: dict[str, dict[str, dict]] = {}
            for run_id in run_ids:
                assets = found.setdefault(run_id, {})
                for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
                    materialization = entry.asset_materialization
                    if materialization is not None:
                        assets.setdefault(materialization.asset_key.path[-1],
                                          {k: v.value for k, v in materialization.metadata.items()})
            return found
    finally:
        if saved is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = saved

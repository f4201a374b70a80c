"""The `grading-pipeline` console script: sample data, grading, summary, locks."""

from __future__ import annotations

import datetime as dt

import pytest

from grading_pipeline import cli
from grading_pipeline.locks import PartitionLock, SQLiteLockStore


@pytest.fixture
def local_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADING_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("GRADING_LOCK_PATH", str(tmp_path / "locks.sqlite"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.chdir(tmp_path)  # no .dagster_home here: a temporary instance, unless a test makes one
    return tmp_path


def test_sample_data_then_grade_prints_every_date(local_env, capsys):
    assert cli.main(["sample-data", "--start", "2025-11-01", "--days", "4", "--per-day", "200"]) == 0
    assert "Loaded sample season 2025-11-01 .. 2025-11-04" in capsys.readouterr().out
    assert cli.main(["grade", "--start", "2025-11-01", "--end", "2025-11-04"]) == 0
    out = capsys.readouterr().out
    assert "SUCCESS" in out and "duplicate business keys: 0" in out
    assert all(f"2025-11-0{d}" in out for d in range(1, 5))
    # The job evaluates the nine partition checks (the eight audits and the freshness promise)
    # on each of the 4 dates, not the sweep (its own job).
    assert "asset checks: 36 evaluations passed, 0 failed" in out


def test_the_grading_job_evaluates_every_partition_check_and_not_the_sweep(local_env):
    from grading_pipeline.audits import AUDITS
    from grading_pipeline.checks import NO_DUPLICATES_IN_RECENT_DAYS
    from grading_pipeline.freshness import FRESHNESS_CHECK

    assert cli.main(["sample-data", "--start", "2025-11-01", "--days", "1", "--per-day", "100"]) == 0
    result = cli.grade_range(dt.date(2025, 11, 1), dt.date(2025, 11, 1))
    evaluated = {e.check_name for e in result.get_asset_check_evaluations()}
    assert evaluated == {audit.name for audit in AUDITS} | {FRESHNESS_CHECK} and NO_DUPLICATES_IN_RECENT_DAYS not in evaluated


def test_grading_a_date_without_actuals_exits_non_zero_with_the_reason(local_env, capsys):
    assert cli.main(["sample-data", "--start", "2025-11-01", "--days", "2", "--per-day", "200"]) == 0
    import duckdb

    with duckdb.connect(str(local_env / "w.duckdb")) as con:
        con.execute("DELETE FROM nba_analytics.player_game_summary WHERE game_date = '2025-11-02'")
    assert cli.main(["grade", "--start", "2025-11-01", "--end", "2025-11-02"]) == 1
    err = capsys.readouterr().err
    # One clear line for the failing date, no stack trace (that is behind --verbose).
    assert err.splitlines()[0].startswith("FAILED (ActualsNotLoadedError): 2025-11-02: actuals not loaded")
    assert "Traceback" not in err and len(err.splitlines()) <= 3 and "--verbose" in err


def test_locks_list_shows_the_holder_and_release_names_it(local_env, capsys):
    lock = PartitionLock(SQLiteLockStore(local_env / "locks.sqlite"), max_wait_seconds=0, lease_seconds=60)
    (lease,) = lock.acquire("grading", dt.date(2025, 11, 3), operation_id="stuck-run")
    try:
        assert cli.main(["locks", "list"]) == 0
        out = capsys.readouterr().out
        assert "1 held" in out and lease.holder_id in out
        assert cli.main(["locks", "release", "grading", "2025-11-03"]) == 0
        out = capsys.readouterr().out
        assert f"removed holder {lease.holder_id}" in out and "stuck-run" in out
        assert cli.main(["locks", "list", "--lock-type", "grading"]) == 0
        assert "0 held" in capsys.readouterr().out
    finally:
        lock.release([lease])
        lock.store.close()


def test_the_demo_leaves_every_check_passed_on_a_persistent_instance(local_env, monkeypatch, capsys):
    import shutil
    from pathlib import Path

    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    from grading_pipeline.audits import AUDITS
    from grading_pipeline.checks import NO_DUPLICATES_IN_RECENT_DAYS
    from grading_pipeline.freshness import FRESHNESS_CHECK

    home = local_env / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    start = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=3)  # the sample ends yesterday
    monkeypatch.setenv("GRADING_SEASON_START", start.isoformat())
    assert cli.main(["demo", "--start", start.isoformat(), "--per-day", "100"]) == 0
    out = capsys.readouterr().out
    assert "1/5 sample data" in out and "no_duplicates_in_recent_days passed" in out and "4/5 graded dates" in out
    assert "30-day scorecard ending" in out and "beat the -110 break-even" in out
    with DagsterInstance.get() as instance:
        keys = [AssetCheckKey(a.table.asset_key, a.name) for a in AUDITS]
        keys.append(AssetCheckKey(AssetKey(["nba_predictions", "prediction_accuracy"]), NO_DUPLICATES_IN_RECENT_DAYS))
        for key in keys:
            (latest,) = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
            assert latest.status.value == "SUCCEEDED", key


@pytest.mark.parametrize("day", ["2025-01-01", "2099-01-01"])
def test_a_date_outside_the_partitions_names_the_valid_range(local_env, capsys, day):
    """It ended in a raw DagsterUnknownPartitionError traceback."""
    assert cli.main(["grade", "--start", day, "--end", day]) == 2
    err = capsys.readouterr().err
    assert f"{day} is not a partition" in err and "GRADING_SEASON_START" in err and "yesterday" in err


def test_the_help_of_every_command_prints(capsys):
    """`grading-pipeline --help`, the README's first command, crashed in argparse (a bare % in a help)."""
    import argparse

    def commands(parser, prefix=()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield (*prefix, name)
                    yield from commands(sub, (*prefix, name))

    every = [(), *commands(cli.build_parser())]
    assert ("locks", "release") in every and ("scorecard",) in every
    printed = {}
    for command in every:
        with pytest.raises(SystemExit) as exited:
            cli.main([*command, "--help"])
        assert exited.value.code == 0, command
        printed[command] = capsys.readouterr().out
        assert printed[command].startswith("usage: grading-pipeline"), command
    assert "95% interval" in printed[()]


def test_status_reads_the_projects_instance_and_refuses_without_one(local_env, capsys):
    """As the README writes it (no DAGSTER_HOME in the shell), `status` read a temporary instance
    after `make demo` and said every graded date was NOT GRADED (exit 1). It reads the project's
    .dagster_home, which make demo and make dev use; with no instance at all it says so (exit 2)."""
    day = dt.date(2025, 11, 1)
    assert cli.main(["sample-data", "--start", day.isoformat(), "--days", "1", "--per-day", "100"]) == 0
    capsys.readouterr()
    assert cli.main(["status", "--end", day.isoformat(), "--days", "1"]) == 2
    assert "no Dagster instance to read the gradings from" in capsys.readouterr().err
    assert cli.main(["grade", "--start", day.isoformat(), "--end", day.isoformat()]) == 0
    assert "a temporary Dagster instance: the run is not kept" in capsys.readouterr().err
    (local_env / ".dagster_home").mkdir()  # what make demo leaves (the Makefile's DAGSTER_HOME)
    (local_env / ".dagster_home" / "dagster.yaml").write_text("")
    assert cli.main(["grade", "--start", day.isoformat(), "--end", day.isoformat()]) == 0
    assert "temporary" not in capsys.readouterr().err
    assert cli.main(["status", "--end", day.isoformat(), "--days", "1"]) == 0
    assert "OK: 2025-11-01 .. 2025-11-01 needs nothing." in capsys.readouterr().out
    assert (local_env / ".dagster_home" / "history" / "runs.db").is_file()  # where make dev's UI reads them


def test_restoring_a_backup_that_does_not_exist_is_a_clear_error_that_changes_nothing(local_env, capsys):
    """It ended in a raw ValueError traceback."""
    import duckdb

    day = "2025-11-01"
    assert cli.main(["sample-data", "--start", day, "--days", "1", "--per-day", "100"]) == 0
    assert cli.main(["grade", "--start", day, "--end", day]) == 0
    count = "SELECT COUNT(*) FROM nba_predictions.prediction_accuracy"
    with duckdb.connect(str(local_env / "w.duckdb"), read_only=True) as con:
        (before,) = con.execute(count).fetchone()
    capsys.readouterr()
    for name, reason in (("nba_predictions.prediction_accuracy_backup_20250101_000000", "does not exist"),
                         ("nba_predictions.player_prop_predictions", "is not a backup of")):
        assert cli.main(["cleanup", "--restore", name]) == 2
        err = capsys.readouterr().err
        assert reason in err and "nothing changed" in err and "Traceback" not in err
    with duckdb.connect(str(local_env / "w.duckdb"), read_only=True) as con:
        assert con.execute(count).fetchone() == (before,) and before > 0


@pytest.mark.parametrize("command", [["summary", "--start", "2025-11-01", "--end", "2025-11-02"],
                                     ["scorecard", "--window", "30"], ["sweep", "--days", "7"]])
def test_a_report_on_a_warehouse_not_made_yet_is_one_clear_line(local_env, capsys, command):
    """On a fresh checkout before `make demo`, they ended in a WarehouseUnavailableError traceback."""
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"grading-pipeline {command[0]}: WarehouseUnavailableError: DuckDB warehouse ")
    assert "does not exist" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not (local_env / "w.duckdb").exists()  # and a read-only report did not create it


def test_a_lock_store_that_does_not_answer_is_one_clear_line(local_env, monkeypatch, capsys):
    """`locks list` against a Firestore that is not there ended in a LockBackendUnavailableError
    traceback. (A closed loopback port: nothing listens there.)"""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("GRADING_LOCK_BACKEND", "firestore")
    monkeypatch.setenv("GRADING_FIRESTORE_PROJECT", "grading-test")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{port}")
    assert cli.main(["locks", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("grading-pipeline locks: LockBackendUnavailableError: Firestore did not answer")
    assert f"127.0.0.1:{port}" in err and "Traceback" not in err and len(err.splitlines()) == 1

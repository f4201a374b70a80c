"""The run queue of the production instance holds a second run of a partition back.

Real pieces only: the instance from deploy/dagster.prod.yaml on PostgreSQL, the code location served
by ``dagster api grpc`` in its own process (as in production), runs submitted to the instance's
QueuedRunCoordinator, the QueuedRunCoordinatorDaemon's own iteration (what ``dagster-daemon run``
calls every few seconds) dequeuing them, and the DefaultRunLauncher executing them in run worker
processes against a DuckDB warehouse and SQLite lock in tmp_path.

Two runs of partition D and one of partition E are queued. The first iteration launches the first
run of D and the run of E, and leaves the second run of D QUEUED; it is still QUEUED after another
iteration while the first run of D is in progress; once that run has finished, the next iteration
launches it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.storage.dagster_run import DagsterRun, DagsterRunStatus
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon
from dagster._grpc.client import DagsterGrpcClient

from grading_pipeline_tests.production.conftest import ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.processes]

LOCATION = "grading_pipeline"
JOB = "grade_game_date"
LAUNCHED = {DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.SUCCESS}
IN_PROGRESS = {DagsterRunStatus.STARTING, DagsterRunStatus.STARTED}
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
# The code location's own executor (in-process) runs each run's one step in the run worker.
IN_PROCESS: dict = {}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CodeServer:
    process: subprocess.Popen
    port: int
    workspace_yaml: Path
    log_path: Path

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@pytest.fixture
def code_server(tmp_path, prod_home, warehouse, partition_lock, season) -> Iterator[CodeServer]:
    """``dagster api grpc -m grading_pipeline.definitions`` with the production DAGSTER_HOME, the
    local resources in tmp_path, and a workspace.yaml pointing at it (as the webserver/daemon use)."""
    port = _free_port()
    env = {
        **os.environ,
        **prod_home.env,
        "GRADING_ENV": "local",
        "GRADING_DUCKDB_PATH": warehouse.database,
        "GRADING_LOCK_BACKEND": "sqlite",
        "GRADING_LOCK_PATH": partition_lock.sqlite_path,
        "GRADING_SEASON_START": "2025-10-21",
    }
    log_path = tmp_path / "code_server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "api", "grpc", "-m", "grading_pipeline.definitions",
             "-h", "127.0.0.1", "-p", str(port), "--location-name", LOCATION],
            cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    workspace_yaml = tmp_path / "workspace.yaml"
    workspace_yaml.write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {port}\n"
        f"      location_name: {LOCATION}\n"
    )
    server = CodeServer(process, port, workspace_yaml, log_path)
    client = DagsterGrpcClient(port=port, host="127.0.0.1")
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"code server exited ({process.returncode}):\n{server.log_tail()}", pytrace=False)
            try:
                client.ping("")
                break
            except Exception:  # noqa: BLE001 -- not serving yet
                if time.monotonic() > deadline:
                    pytest.fail(f"code server not serving after 60 s:\n{server.log_tail()}", pytrace=False)
                time.sleep(0.2)
        yield server
    finally:
        # Graceful: the server exits once its run workers are done (it needs PostgreSQL for that,
        # which outlives this fixture). Then the hard way.
        try:
            client.shutdown_server()
        except Exception:  # noqa: BLE001
            pass
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None:
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
            try:
                process.wait(timeout=30 if sig is None else 10)
                break
            except subprocess.TimeoutExpired:
                continue


def submit(instance: DagsterInstance, workspace, partition: str) -> DagsterRun:
    """What the UI's "Materialize" / a schedule tick does: create the run from the code location's
    job snapshot with the partition's tags, and submit it to the instance's run coordinator."""
    location = workspace.get_code_location(LOCATION)
    repo = next(iter(location.get_repositories().values()))
    remote_job = location.get_job(JobSubsetSelector(
        location_name=LOCATION, repository_name=repo.name, job_name=JOB, op_selection=None))
    plan = location.get_execution_plan(
        remote_job, IN_PROCESS, step_keys_to_execute=None, known_state=None, instance=instance
    ).execution_plan_snapshot
    tags = {**remote_job.tags, "dagster/partition": partition, "dagster/partition_set": f"{JOB}_partition_set"}
    run = instance.create_run(
        job_name=JOB, run_id=None, run_config=IN_PROCESS, resolved_op_selection=None,
        step_keys_to_execute=plan.step_keys_to_execute, op_selection=None, status=None,
        root_run_id=None, parent_run_id=None, tags=tags, job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan, parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(), job_code_origin=remote_job.get_python_origin(),
        asset_selection=None, asset_check_selection=None, asset_graph=repo.asset_graph,
    )
    return instance.submit_run(run.run_id, workspace)


def status(instance: DagsterInstance, run: DagsterRun) -> DagsterRunStatus:
    return instance.get_run_by_id(run.run_id).status


def wait_finished(instance: DagsterInstance, runs: list[DagsterRun], server: CodeServer, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while any(status(instance, r) not in FINISHED for r in runs):
        if time.monotonic() > deadline:
            pytest.fail(f"runs not finished after {timeout:.0f} s: "
                        f"{[status(instance, r) for r in runs]}\n{server.log_tail()}", pytrace=False)
        time.sleep(0.2)
    return [status(instance, r) for r in runs]


def test_a_second_run_of_the_same_partition_waits_in_the_queue(prod_instance, code_server, season, partition_lock):
    from grading_pipeline.locks import PartitionLock, SQLiteLockStore

    instance = prod_instance
    day, other_day = (d.isoformat() for d in season.game_dates[:2])
    # A run is one in-process step, over in about a second: to observe the queue holding the
    # second run back while the first is in progress, someone else holds the first's lock a while.
    blocker = PartitionLock(SQLiteLockStore(partition_lock.sqlite_path), max_wait_seconds=0, lease_seconds=120)
    held = blocker.acquire("grading", day, operation_id="test-holds-the-date")

    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(code_server.workspace_yaml)])) as context:
        workspace = context.create_request_context()
        entry = workspace.get_code_location_entries()[LOCATION]
        assert entry.code_location is not None, entry.load_error

        first = submit(instance, workspace, day)
        second = submit(instance, workspace, day)
        other = submit(instance, workspace, other_day)
        assert [r.status for r in (first, second, other)] == [DagsterRunStatus.QUEUED] * 3

        with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
            # 1. One run per partition leaves the queue: the second run of `day` stays, although
            #    max_concurrent_runs (10) has room -- the run of `other_day` is launched.
            list(daemon.run_iteration(context))
            assert status(instance, first) in LAUNCHED
            assert status(instance, other) in LAUNCHED
            assert status(instance, second) == DagsterRunStatus.QUEUED

            # 2. Still held back while the first run of `day` is in progress.
            list(daemon.run_iteration(context))
            first_status = status(instance, first)
            assert status(instance, second) == DagsterRunStatus.QUEUED
            assert first_status in IN_PROGRESS, "the first run ended too fast to observe the wait"
            assert blocker.release(held) == [True]

            # 3. The first run finishes; the next iteration launches the second.
            assert wait_finished(instance, [first, other], code_server) == [DagsterRunStatus.SUCCESS] * 2
            assert status(instance, second) == DagsterRunStatus.QUEUED
            list(daemon.run_iteration(context))
            assert status(instance, second) in LAUNCHED
            assert wait_finished(instance, [second], code_server) == [DagsterRunStatus.SUCCESS]

    # The two runs of `day` never overlapped, and both materialized it (read back from PostgreSQL).
    first_record = instance.get_run_record_by_id(first.run_id)
    second_record = instance.get_run_record_by_id(second.run_id)
    assert second_record.start_time >= first_record.end_time
    records = instance.fetch_materializations(AssetKey(["nba_predictions", "prediction_accuracy"]), limit=10).records
    assert sorted((r.partition_key, r.run_id) for r in records) == sorted(
        [(day, first.run_id), (day, second.run_id), (other_day, other.run_id)]
    )

"""The launched path through the UI, timed for `make bench`: `dagster dev` (webserver and daemon) on
the bench's instance, driven through the GraphQL API the UI sends its clicks to.

* Materialize of one date (the UI's launch of one partition): a run, queued, dequeued by the
  daemon, launched in a process of its own;
* a backfill of that date (the UI's launch of a backfill): Dagster's backfill daemon submits its
  run at its next tick, and marks the backfill complete at a later one.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grading_pipeline.tables import GRADED_TABLES

LAUNCH_RUN = """mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status creationTime startTime endTime } } }"""
LAUNCH_BACKFILL = """mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
  status runs(limit: 10) { runId status creationTime startTime endTime } } } }"""
DAEMONS = """{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } }
  repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"""
RUN_DONE = {"SUCCESS", "FAILURE", "CANCELED"}
BACKFILL_DONE = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    """The data of a query to the webserver at `url`; its errors raised."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{url}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    if answer.get("errors"):
        raise AssertionError(f"GraphQL errors: {answer['errors']}")
    return answer["data"]


class DagsterDev:
    def __init__(self, url: str):
        self.url = url

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.url, query, variables)


@contextmanager
def dagster_dev(env: dict[str, str], cwd: Path, timeout: float = 180.0) -> Iterator[DagsterDev]:
    """`dagster dev` on a free loopback port, once its code location is loaded and its run queue and
    backfill daemons report healthy; stopped (its whole process group) on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = cwd / "dagster_dev.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "dev", "-m", "grading_pipeline.definitions",
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    dev = DagsterDev(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + timeout
        while not _ready(dev):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dagster dev did not come up:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield dev
    finally:
        _stop(process)


def _ready(dev: DagsterDev) -> bool:
    try:
        data = dev.graphql(DAEMONS)
    except (urllib.error.URLError, OSError, AssertionError):
        return False
    statuses = {s["daemonType"]: s["healthy"] for s in data["instance"]["daemonHealth"]["allDaemonStatuses"]}
    return bool(data["repositoriesOrError"].get("nodes")) and all(
        statuses.get(kind) for kind in ("BACKFILL", "QUEUED_RUN_COORDINATOR"))


def _stop(process: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _assets() -> list[dict[str, Any]]:
    return [{"path": list(t.asset_key.path)} for t in GRADED_TABLES]


def materialize_one_date(dev: DagsterDev, partition: str) -> dict[str, float]:
    """What the UI's Materialize of one partition sends; seconds from the click to the run's start
    and end."""
    repository = dev.graphql(DAEMONS)["repositoriesOrError"]["nodes"][0]
    clicked = time.time()
    launched = dev.graphql(LAUNCH_RUN, {"p": {
        "selector": {"repositoryLocationName": repository["location"]["name"], "repositoryName": repository["name"],
                     "pipelineName": "__ASSET_JOB", "assetSelection": _assets()},
        "mode": "default", "runConfigData": {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }})["launchPipelineExecution"]
    if launched["__typename"] != "LaunchRunSuccess":
        raise RuntimeError(f"the UI's launch failed: {launched}")
    run = _wait(dev, RUN, {"id": launched["run"]["runId"]}, lambda d: d["runOrError"], RUN_DONE)
    if run["status"] != "SUCCESS":
        raise RuntimeError(f"the run launched as from the UI ended {run['status']}")
    return {"started": run["startTime"] - clicked, "done": run["endTime"] - clicked}


def backfill_one_date(dev: DagsterDev, partition: str) -> dict[str, float]:
    """What the UI's Launch backfill sends; seconds from the click to its run's creation and end,
    and to the backfill's completion."""
    clicked = time.time()
    launched = dev.graphql(LAUNCH_BACKFILL, {"p": {"partitionNames": [partition], "assetSelection": _assets(),
                                                   "fromFailure": False}})["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(f"the UI's backfill failed to launch: {launched}")
    backfill = _wait(dev, BACKFILL, {"id": launched["backfillId"]}, lambda d: d["partitionBackfillOrError"],
                     BACKFILL_DONE, timeout=300.0)
    done = time.time()
    runs = backfill["runs"]
    if backfill["status"] not in ("COMPLETED", "COMPLETED_SUCCESS") or len(runs) != 1 or runs[0]["status"] != "SUCCESS":
        raise RuntimeError(f"the backfill ended {backfill['status']} with runs {runs}")
    return {"run_created": runs[0]["creationTime"] - clicked, "run_done": runs[0]["endTime"] - clicked,
            "completed": done - clicked}


def _wait(dev: DagsterDev, query: str, variables: dict, pick, finished: set[str], timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        found = pick(dev.graphql(query, variables))
        if found and found["status"] in finished:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"still {found and found['status']} after {timeout:g} s")
        time.sleep(0.1)


def ui_figures(env: dict[str, str], cwd: Path, partition: str, repeats: int = 2, backfill: bool = True) -> dict:
    with dagster_dev(env, cwd) as dev:
        runs = [materialize_one_date(dev, partition) for _ in range(repeats)]
        figures = {f"ui_run_{k}": statistics.median(r[k] for r in runs) for k in runs[0]}
        if backfill:
            figures.update({f"ui_backfill_{k}": v for k, v in backfill_one_date(dev, partition).items()})
    return figures


def print_ui_figures(f: dict, cli_seconds: float) -> None:
    print("LAUNCHED FROM THE UI (dagster dev: webserver, daemon; GraphQL, what the UI sends):")
    print(f"{'  Materialize one date (a run, queued then launched): done after':<70}"
          f"{f['ui_run_done']:>8.2f}s{f['ui_run_done'] / cli_seconds:>8.1f}x   the CLI launch")
    if "ui_backfill_completed" in f:
        print(f"{'  Backfill of one date: its run created after':<70}{f['ui_backfill_run_created']:>8.2f}s"
              "   (Dagster's backfill daemon ticks every 30 s)")
        print(f"{'    its run done after':<70}{f['ui_backfill_run_done']:>8.2f}s")
        print(f"{'    the backfill shown complete after':<70}{f['ui_backfill_completed']:>8.2f}s")

"""A real `dagster-webserver` on a loopback port, serving the project's code location on a given
DAGSTER_HOME, and its GraphQL API (what the UI reads)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from grading_pipeline.bench_ui import graphql
from grading_pipeline_tests.support.services import free_port, log_tail, stop_group

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Webserver:
    url: str
    process: subprocess.Popen
    log_path: Path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        return graphql(self.url, query, variables)

    def stop(self) -> None:
        stop_group(self.process, 10.0)


def start_webserver(env: dict[str, str], cwd: Path, timeout: float = 90.0) -> Webserver:
    port = free_port()
    log_path = cwd / "webserver.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
             "-m", "grading_pipeline.definitions"],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    server = Webserver(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{server.url}/server_info", timeout=2) as response:
                if response.status == 200:
                    # The code location loads after the server answers: wait until GraphQL sees it.
                    data = server.graphql("{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }")
                    if data["repositoriesOrError"].get("nodes"):
                        return server
        except (urllib.error.URLError, OSError, AssertionError, KeyError):
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"dagster-webserver did not come up:\n{log_tail(log_path)}")

"""A local BigQuery (bqemulator 1.4.0) for tests: installed on demand, started once per session.

Use from a test folder's conftest::

    from grading_pipeline_tests.support.bigquery_emulator import bigquery_emulator  # noqa: F401

* ``bigquery_emulator`` (session): the running :class:`BigQueryEmulator`. The emulator lives in a
  virtual environment of its own (``.venv-bqemu`` at the repo root, or ``$BQEMU_VENV``), created by
  ``scripts/install-bqemulator.sh`` when absent, so that its pins and its pytest plugin never reach
  the project's ``.venv``. It listens on free loopback ports, in its own process group, logging to
  a file; the fixture waits for ``GET /readyz`` == 200 with the process alive, and stops the group
  at the end of the session. When it cannot be installed or started the tests are skipped with the
  reason -- except with ``CI=true``, where they fail loudly.

There is no reset endpoint: give each test a dataset prefix of its own (:func:`fresh_prefix`).

One emulator gap is closed here rather than worked around in the production code: bqemulator
runs a multi-statement script without its query parameters (``jobs/executor.py`` builds the
``ScriptInterpreter`` without them, and the interpreter binds ``None``), so a parameterized
``BEGIN TRANSACTION ... COMMIT TRANSACTION`` script -- what BigQueryWarehouse sends, and what real
BigQuery runs -- fails there with "Values were not provided for the following prepared statement
parameters". :data:`SCRIPT_PARAMETERS_SHIM` hands the job's named parameters to the statements
of its script (through a context variable) and changes nothing else; the emulator is started
through it. Scripts that also use script variables (DECLARE) are not supported by the shim, and
the warehouse uses none.

Without pytest: ``emu = start_bigquery_emulator(); ...; emu.stop()``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

from grading_pipeline_tests.support.services import free_port, running_in_ci, log_tail, stop_group

__all__ = [
    "BigQueryEmulator",
    "BigQueryEmulatorUnavailable",
    "DEFAULT_PROJECT",
    "bigquery_emulator",
    "emulator_venv",
    "ensure_installed",
    "fresh_prefix",
    "start_bigquery_emulator",
]

ROOT = Path(__file__).resolve().parents[2]
INSTALL_SCRIPT = ROOT / "scripts" / "install-bqemulator.sh"
DEFAULT_PROJECT = "grading-pipeline-test"

# Run by the emulator's own Python (`python -c SHIM start ...`); see the module docstring.
SCRIPT_PARAMETERS_SHIM = r'''
import contextvars, sys
from bqemulator.jobs import executor
from bqemulator.scripting import interpreter

for owner, name in ((executor, "_run_query_body"), (interpreter, "bind_parameters")):
    if not hasattr(owner, name):
        sys.exit(f"bqemulator shim: {owner.__name__}.{name} is gone; this shim is for bqemulator 1.4.0")

_script_params = contextvars.ContextVar("grading_pipeline_script_params", default=None)
_run_query_body = executor._run_query_body
_bind_parameters = interpreter.bind_parameters


async def run_query_body(*args, **kwargs):
    token = _script_params.set(kwargs.get("query_params") if kwargs.get("is_scripted") else None)
    try:
        return await _run_query_body(*args, **kwargs)
    finally:
        _script_params.reset(token)


def bind_parameters(sql, query_parameters=None):
    return _bind_parameters(sql, query_parameters if query_parameters is not None else _script_params.get())


executor._run_query_body = run_query_body
interpreter.bind_parameters = bind_parameters

from bqemulator.cli import main

sys.argv[0] = "bqemulator"
main()
'''


class BigQueryEmulatorUnavailable(RuntimeError):
    """bqemulator could not be installed or started on this machine."""


def emulator_venv() -> Path:
    return Path(os.environ.get("BQEMU_VENV") or ROOT / ".venv-bqemu")




def ensure_installed(timeout: float = 900.0) -> Path:
    """Run the (idempotent) install script; returns the emulator's virtual environment."""
    venv = emulator_venv()
    if not INSTALL_SCRIPT.is_file():
        raise BigQueryEmulatorUnavailable(f"{INSTALL_SCRIPT} is missing")
    log = Path(tempfile.mkstemp(prefix="install-bqemulator-", suffix=".log")[1])
    try:
        with open(log, "wb") as out:
            done = subprocess.run(
                ["bash", str(INSTALL_SCRIPT), str(venv)], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT,
            )
    except subprocess.TimeoutExpired as error:
        raise BigQueryEmulatorUnavailable(f"{INSTALL_SCRIPT} did not finish in {timeout:.0f} s") from error
    text = log.read_text(errors="replace")
    log.unlink(missing_ok=True)
    if done.returncode != 0:
        tail = "\n".join([line for line in text.splitlines() if "is ignored" not in line][-25:])
        raise BigQueryEmulatorUnavailable(f"{INSTALL_SCRIPT} failed (exit {done.returncode}):\n{tail}")
    return venv




def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class BigQueryEmulator:
    endpoint: str  # http://127.0.0.1:PORT, the REST API (client_options api_endpoint)
    grpc_port: int
    project: str
    process: subprocess.Popen
    log_path: Path
    workdir: Path
    started_seconds: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    def alive(self) -> bool:
        return self.process.poll() is None

    def client(self, project: str | None = None):
        """A ``google.cloud.bigquery.Client`` on this emulator (anonymous credentials)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery

        return bigquery.Client(
            project=project or self.project, credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.endpoint},
        )

    def log_tail(self, n: int = 40) -> str:
        return log_tail(self.log_path, n)

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopped:
            return
        self._stopped = True
        stop_group(self.process, timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)






def start_bigquery_emulator(project: str = DEFAULT_PROJECT, timeout: float = 60.0) -> BigQueryEmulator:
    """Install if needed, start bqemulator on free loopback ports and wait until it is ready."""
    venv = ensure_installed()
    python = venv / "bin" / "python"
    work = Path(tempfile.mkdtemp(prefix="bqemulator-"))
    log_path = work / "emulator.log"
    env = {k: v for k, v in os.environ.items() if k != "BIGQUERY_EMULATOR_HOST"}
    env.update({
        "BQEMU_ENABLE_FORMAT_EXTENSIONS": "false",  # no Avro download at start-up (offline)
        "BQEMU_LOG_LEVEL": "warning",
        "BQEMU_METRICS_ENABLED": "false",
    })
    last_error = "not started"
    tail = ""
    for _ in range(3):  # a port taken between choosing and binding: try others
        rest_port, grpc_port = free_port(), free_port()
        started = time.monotonic()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(python), "-c", SCRIPT_PARAMETERS_SHIM, "start",
                 "--rest-host", "127.0.0.1", "--rest-port", str(rest_port),
                 "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc_port), "--project", project],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(work),
                start_new_session=True,  # its own process group, stopped as a whole
            )
        emulator = BigQueryEmulator(f"http://127.0.0.1:{rest_port}", grpc_port, project, process, log_path, work)
        deadline = started + timeout
        while time.monotonic() < deadline:
            if not emulator.alive():
                last_error = f"bqemulator exited with code {process.returncode}"
                break
            if _ready(emulator.endpoint + "/readyz") and emulator.alive():
                emulator.started_seconds = time.monotonic() - started
                return emulator
            time.sleep(0.05)
        else:
            last_error = f"not ready after {timeout:.0f} s"
        tail = emulator.log_tail()
        stop_group(process, 5.0)
        if "address already in use" not in tail.lower():
            break
    shutil.rmtree(work, ignore_errors=True)
    raise BigQueryEmulatorUnavailable(f"bqemulator failed to start: {last_error}\n--- log tail ---\n{tail}")


def fresh_prefix() -> str:
    """A dataset prefix no other test uses (the emulator has no reset)."""
    return f"t{uuid.uuid4().hex[:10]}_"


_shared_mutex = threading.Lock()
_shared: BigQueryEmulator | None = None


def _stop_shared() -> None:
    global _shared
    with _shared_mutex:
        if _shared is not None:
            _shared.stop()
        _shared = None


atexit.register(_stop_shared)


@pytest.fixture(scope="session")
def bigquery_emulator() -> Iterator[BigQueryEmulator]:
    """bqemulator, installed if needed and started once per session (skipped if unavailable,
    failing instead under CI=true)."""
    global _shared
    with _shared_mutex:
        if _shared is None or not _shared.alive():
            try:
                _shared = start_bigquery_emulator()
            except BigQueryEmulatorUnavailable as error:
                if running_in_ci():
                    pytest.fail(f"BigQuery emulator unavailable, and CI=true: {error}", pytrace=False)
                pytest.skip(f"BigQuery emulator unavailable: {error}")
        emulator = _shared
    try:
        yield emulator
    finally:
        _stop_shared()

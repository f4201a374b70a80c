"""The real Firestore emulator for tests: start once per test session, reset between tests.

Use from any test folder's conftest (or the root one)::

    from grading_pipeline_tests.support.firestore_emulator import (  # noqa: F401
        firestore_emulator, firestore_emulator_clean,
    )

* ``firestore_emulator`` (session): the running :class:`FirestoreEmulator`; sets
  ``FIRESTORE_EMULATOR_HOST`` for the session, so clients and spawned processes reach it (pass
  ``emulator.project`` as the project id). Skips when ``gcloud`` is not installed -- except with ``CI=true``,
  where a missing emulator fails the test loudly.
* ``firestore_emulator_clean`` (function): the same emulator with every document deleted first.

Without pytest: ``emu = start_firestore_emulator(); ...; emu.stop()``. Several conftests importing
the fixtures share one emulator process (reference-counted); it is stopped with the last user or
at interpreter exit.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from grading_pipeline_tests.support.services import free_port, running_in_ci, stop_group, log_tail

__all__ = [
    "DEFAULT_PROJECT",
    "FirestoreEmulator",
    "FirestoreEmulatorUnavailable",
    "firestore_emulator",
    "firestore_emulator_clean",
    "gcloud_path",
    "require_gcloud",
    "shared_emulator",
    "start_firestore_emulator",
]

DEFAULT_PROJECT = "grading-pipeline-test"
READY_LINE = "Dev App Server is now running"


class FirestoreEmulatorUnavailable(RuntimeError):
    """gcloud (with the Firestore emulator component) is not installed on this machine."""


def gcloud_path() -> str | None:
    return shutil.which("gcloud")




@dataclass
class FirestoreEmulator:
    host_port: str
    project: str
    process: subprocess.Popen
    log_path: Path
    workdir: Path
    started_seconds: float
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host_port}"

    def env(self) -> dict[str, str]:
        """What a client (or a child process) needs to reach this emulator."""
        return {"FIRESTORE_EMULATOR_HOST": self.host_port, "GOOGLE_CLOUD_PROJECT": self.project}

    def alive(self) -> bool:
        return self.process.poll() is None

    def reset(self, project: str | None = None) -> None:
        """Delete every document of ``project`` (default: this emulator's project)."""
        url = (
            f"{self.base_url}/emulator/v1/projects/{project or self.project}"
            "/databases/(default)/documents"
        )
        request = urllib.request.Request(url, method="DELETE")
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"emulator reset answered HTTP {response.status}")

    def client(self, project: str | None = None):
        """A ``google.cloud.firestore.Client`` on this emulator."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import firestore

        old = os.environ.get("FIRESTORE_EMULATOR_HOST")
        os.environ["FIRESTORE_EMULATOR_HOST"] = self.host_port
        try:
            return firestore.Client(project=project or self.project, credentials=AnonymousCredentials())
        finally:
            if old is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = old

    def log_tail(self, n: int = 40) -> str:
        return log_tail(self.log_path, n)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole process group (gcloud and the Java emulator it started)."""
        if self._stopped:
            return
        self._stopped = True
        stop_group(self.process, timeout)
        shutil.rmtree(self.workdir, ignore_errors=True)






def _get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200 and response.read().decode().strip() == "Ok"
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_firestore_emulator(
    project: str = DEFAULT_PROJECT, timeout: float = 60.0, workdir: str | os.PathLike[str] | None = None
) -> FirestoreEmulator:
    """Start ``gcloud emulators firestore start`` on a free local port, in its own process group,
    and wait until it is ready (log line + ``GET /`` answering ``Ok`` + process alive)."""
    gcloud = gcloud_path()
    if gcloud is None:
        raise FirestoreEmulatorUnavailable("gcloud is not installed (no `gcloud` on PATH)")
    work = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="firestore-emulator-"))
    (work / "gcloud-config").mkdir(parents=True, exist_ok=True)
    log_path = work / "emulator.log"
    env = {
        **os.environ,
        "CLOUDSDK_CONFIG": str(work / "gcloud-config"),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    env.pop("FIRESTORE_EMULATOR_HOST", None)
    last_error = "not started"
    for _ in range(3):  # a port taken between choosing and binding: try another
        port = free_port()
        host_port = f"127.0.0.1:{port}"
        started = time.monotonic()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [gcloud, "emulators", "firestore", "start", f"--host-port={host_port}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=str(work),
                start_new_session=True,  # setsid: own process group, stopped as a whole
            )
        emulator = FirestoreEmulator(host_port, project, process, log_path, work, 0.0)
        deadline = started + timeout
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace") if log_path.exists() else ""
            if "BindException" in text or "Address already in use" in text:
                last_error = f"port {port} already in use"
                break
            if not emulator.alive():
                last_error = f"gcloud exited with code {process.returncode}"
                break
            if READY_LINE in text and _get_ok(emulator.base_url + "/"):
                if emulator.alive():
                    emulator.started_seconds = time.monotonic() - started
                    return emulator
            time.sleep(0.1)
        else:
            last_error = f"not ready after {timeout:.0f} s"
        tail = emulator.log_tail()
        stop_group(process, 5.0)
        if "port" not in last_error:
            break
    if workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    raise RuntimeError(f"Firestore emulator failed to start: {last_error}\n--- log tail ---\n{tail}")


# -- shared, reference-counted instance (several conftests may import the fixtures) ---------

_shared_mutex = threading.Lock()
_shared: FirestoreEmulator | None = None
_shared_users = 0


def _stop_shared() -> None:
    global _shared, _shared_users
    with _shared_mutex:
        if _shared is not None:
            _shared.stop()
        _shared, _shared_users = None, 0


atexit.register(_stop_shared)


class shared_emulator:
    """Context manager: the process-wide emulator, started by the first user, stopped by the last."""

    def __enter__(self) -> FirestoreEmulator:
        global _shared, _shared_users
        with _shared_mutex:
            if _shared is None or not _shared.alive():
                _shared = start_firestore_emulator()
            _shared_users += 1
            return _shared

    def __exit__(self, *exc: object) -> None:
        global _shared, _shared_users
        with _shared_mutex:
            _shared_users -= 1
            if _shared_users <= 0 and _shared is not None:
                _shared.stop()
                _shared, _shared_users = None, 0




def require_gcloud() -> None:
    """Skip the calling test when gcloud is missing -- but fail it when CI=true (CI must have it)."""
    if gcloud_path() is None:
        reason = "Firestore emulator tests need gcloud (google-cloud-cli + firestore emulator)"
        if running_in_ci():
            pytest.fail(f"{reason}, and CI=true: it must be installed in CI", pytrace=False)
        pytest.skip(f"{reason}; gcloud is not on PATH")


@pytest.fixture(scope="session")
def firestore_emulator() -> Iterator[FirestoreEmulator]:
    """The Firestore emulator, started once per session; FIRESTORE_EMULATOR_HOST points at it."""
    require_gcloud()
    saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
    with shared_emulator() as emulator:
        os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
        try:
            yield emulator
        finally:
            if saved is None:
                os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
            else:
                os.environ["FIRESTORE_EMULATOR_HOST"] = saved


@pytest.fixture
def firestore_emulator_clean(firestore_emulator: FirestoreEmulator) -> FirestoreEmulator:
    """The emulator with all documents of its project deleted before the test."""
    if not firestore_emulator.alive():
        pytest.fail(f"Firestore emulator died:\n{firestore_emulator.log_tail()}", pytrace=False)
    firestore_emulator.reset()
    return firestore_emulator

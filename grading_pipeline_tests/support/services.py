"""What the launchers of local test services (Firestore and BigQuery emulators, PostgreSQL) share:
a free loopback port, the CI rule, and stopping a process group for good."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def running_in_ci() -> bool:
    """Under CI=true a service that cannot start fails the run; elsewhere its tests skip."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def log_tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def _group_gone(pgid: int, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        process.poll()  # reap the leader, or its zombie keeps the group alive
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def stop_group(process: subprocess.Popen, timeout: float) -> None:
    """SIGTERM a service's process group (started with start_new_session, so the leader's children,
    e.g. the Java emulator under gcloud, are in it), SIGKILL what is left after `timeout`."""
    pgid = process.pid
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        if _group_gone(pgid, process, wait):
            break
    process.poll()

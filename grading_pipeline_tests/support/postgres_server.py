"""A real, throw-away PostgreSQL server for tests: ``initdb`` into a temporary directory, ``postgres``
on a free 127.0.0.1 port, stopped with ``pg_ctl stop -m fast`` at the end of the session.

Use from a conftest::

    from grading_pipeline_tests.support.postgres_server import postgres_server, postgres_database  # noqa: F401

* ``postgres_server`` (session): the running :class:`PostgresServer` (superuser ``dagster`` with a
  password, password authentication over TCP -- as a production server would require).
* ``postgres_database`` (function): a fresh, empty database on it (:class:`PostgresDatabase`), so
  that runs, queues and event logs of one test never leak into another.

Binaries are looked up in ``$GRADING_PG_BINDIR``, ``pg_config --bindir``, the newest
``/usr/lib/postgresql/*/bin`` (Debian/Ubuntu ``postgresql`` package) and ``PATH``. This module never
installs anything; CI provides them with ``apt-get install -y postgresql``.

PostgreSQL refuses to run as root. When the tests run as root, ``initdb`` and ``postgres`` run as
an existing unprivileged user (``$GRADING_PG_USER``, else ``postgres``, else ``nobody``), which is
given the temporary directory.

No binaries, or a server that does not come up: the tests are skipped with the reason -- except
with ``CI=true``, where they fail loudly (CI must have a working server).

Without pytest: ``server = start_postgres_server(); ...; server.stop()``.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest
from grading_pipeline_tests.support.services import free_port, running_in_ci, log_tail

__all__ = [
    "PostgresDatabase",
    "PostgresServer",
    "PostgresUnavailable",
    "find_postgres_bindir",
    "postgres_database",
    "postgres_server",
    "start_postgres_server",
]

SUPERUSER = "dagster"
REQUIRED_BINARIES = ("initdb", "postgres", "pg_ctl")
# Durability is pointless for a throw-away server; this makes initdb + schema creation fast.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=100")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine, or no unprivileged user to run them as."""




def _has_binaries(bindir: str | os.PathLike[str]) -> bool:
    return all(os.access(os.path.join(bindir, name), os.X_OK) for name in REQUIRED_BINARIES)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path)) or (0,)


def find_postgres_bindir() -> str | None:
    """The directory holding ``initdb``, ``postgres`` and ``pg_ctl``, or None."""
    candidates: list[str] = []
    if os.environ.get("GRADING_PG_BINDIR"):
        candidates.append(os.environ["GRADING_PG_BINDIR"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(os.path.dirname(os.path.realpath(initdb)))
    return next((c for c in candidates if _has_binaries(c)), None)


def _run_as_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    names = [os.environ["GRADING_PG_USER"]] if os.environ.get("GRADING_PG_USER") else ["postgres", "nobody"]
    for name in names:
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        if account.pw_uid != 0:
            return account
    raise PostgresUnavailable(
        f"running as root and none of the users {names} exists: PostgreSQL refuses to run as root "
        "(create one, e.g. `useradd --system postgres`, or set GRADING_PG_USER)"
    )




def _chown_tree(path: Path, account: pwd.struct_passwd) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, account.pw_uid, account.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), account.pw_uid, account.pw_gid)


def _as_user_kwargs(account: pwd.struct_passwd | None) -> dict:
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _connect(host: str, port: int, user: str, password: str, dbname: str, timeout: int = 3):
    import psycopg2  # a dependency of dagster-postgres

    return psycopg2.connect(
        host=host, port=port, user=user, password=password, dbname=dbname, connect_timeout=timeout
    )


@dataclass(frozen=True)
class PostgresDatabase:
    """One database on the test server, with what a client or ``dagster.yaml`` needs."""

    host: str
    port: int
    username: str
    password: str
    db_name: str

    @property
    def url(self) -> str:
        return f"postgresql://{self.username}:{self.password}@{self.host}:{self.port}/{self.db_name}"

    def dagster_env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables read by deploy/dagster.prod.yaml."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USERNAME": self.username,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db_name,
        }

    def connect(self):
        """A psycopg2 connection (the caller closes it)."""
        return _connect(self.host, self.port, self.username, self.password, self.db_name)

    def query(self, sql: str, params: tuple | dict | None = None) -> list[tuple]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            conn.close()


@dataclass
class PostgresServer:
    host: str
    port: int
    username: str
    password: str
    bindir: str
    workdir: Path
    process: subprocess.Popen
    account: pwd.struct_passwd | None
    version: str = ""
    started_seconds: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        return self.workdir / "postgres.log"

    def alive(self) -> bool:
        return self.process.poll() is None

    def database(self, db_name: str = "postgres") -> PostgresDatabase:
        return PostgresDatabase(self.host, self.port, self.username, self.password, db_name)

    def create_database(self, db_name: str | None = None) -> PostgresDatabase:
        """CREATE DATABASE (a fresh name by default) and return it."""
        name = db_name or f"test_{uuid.uuid4().hex[:12]}"
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"unsafe database name {name!r}")
        conn = self.database("postgres").connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.database(name)

    def drop_database(self, db_name: str) -> None:
        conn = self.database("postgres").connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        finally:
            conn.close()

    def log_tail(self, n: int = 40) -> str:
        return log_tail(self.log_path, n)

    def stop(self, timeout: float = 30.0) -> None:
        """``pg_ctl stop -m fast``; SIGQUIT/SIGKILL what is left; delete the directory."""
        if self._stopped:
            return
        self._stopped = True
        if self.alive():
            try:
                subprocess.run(
                    [os.path.join(self.bindir, "pg_ctl"), "stop", "-D", str(self.datadir), "-m", "fast", "-w",
                     "-t", str(int(timeout))],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    timeout=timeout + 5, cwd=str(self.workdir), **_as_user_kwargs(self.account),
                )
            except (OSError, subprocess.SubprocessError):
                pass
        for sig, wait in ((signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
            if not self.alive():
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        self.process.poll()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_postgres_server(timeout: float = 60.0) -> PostgresServer:
    """initdb + postgres on a free 127.0.0.1 port; returns once it accepts authenticated connections."""
    bindir = find_postgres_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries (initdb, postgres, pg_ctl) found in $GRADING_PG_BINDIR, "
            "`pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH (apt-get install -y postgresql)"
        )
    account = _run_as_user()
    as_user = _as_user_kwargs(account)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="grading-postgres-"))
    try:
        (workdir / "socket").mkdir()
        password = secrets.token_urlsafe(16)
        pwfile = workdir / "pwfile"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        if account is not None:
            _chown_tree(workdir, account)
            # the user needs to reach its directory: every ancestor must be traversable by others
            for parent in workdir.parents:
                if not os.stat(parent).st_mode & 0o001:
                    raise PostgresUnavailable(
                        f"{parent} is not traversable by user {account.pw_name}; set TMPDIR to a "
                        "world-traversable directory"
                    )
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        env.pop("PGDATA", None)
        init = subprocess.run(
            [os.path.join(bindir, "initdb"), "-D", str(workdir / "data"), "-U", SUPERUSER,
             f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
             "--encoding=UTF8", "--no-locale", "--no-sync"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, cwd=str(workdir),
            timeout=timeout, **as_user,
        )
        pwfile.unlink()
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        version = subprocess.run(
            [os.path.join(bindir, "postgres"), "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()

        last_error = "not started"
        for _ in range(3):  # a port taken between choosing and binding: try another
            port = free_port()
            command = [os.path.join(bindir, "postgres"), "-D", str(workdir / "data"),
                       "-k", str(workdir / "socket"), "-h", "127.0.0.1", "-p", str(port)]
            for setting in FAST_SETTINGS:
                command += ["-c", setting]
            with open(workdir / "postgres.log", "ab") as log:
                process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                    cwd=str(workdir), start_new_session=True, **as_user,
                )
            server = PostgresServer("127.0.0.1", port, SUPERUSER, password, bindir, workdir, process,
                                    account, version)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if not server.alive():
                    tail = server.log_tail()
                    last_error = f"postgres exited with code {process.returncode}\n{tail}"
                    break
                try:
                    _connect(server.host, port, SUPERUSER, password, "postgres", timeout=2).close()
                    server.started_seconds = time.monotonic() - started
                    return server
                except Exception as exc:  # noqa: BLE001 -- not up yet
                    last_error = f"not accepting connections: {exc}"
                time.sleep(0.1)
            else:
                last_error = f"not ready after {timeout:.0f} s: {last_error}\n{server.log_tail()}"
            server._stopped = True
            if server.alive():
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
            if "already in use" not in last_error:
                break
        raise RuntimeError(f"PostgreSQL failed to start: {last_error}")
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _unavailable(reason: str) -> None:
    if running_in_ci():
        pytest.fail(f"{reason}\nCI=true: a PostgreSQL server must be available in CI "
                    "(apt-get install -y postgresql)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (skipped if none can be started, failed under CI)."""
    try:
        server = start_postgres_server()
    except PostgresUnavailable as exc:
        _unavailable(f"PostgreSQL tests need a PostgreSQL server: {exc}")
    except Exception as exc:  # noqa: BLE001 -- any failure to start is reported the same way
        _unavailable(f"could not start a throw-away PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[PostgresDatabase]:
    """A fresh database for one test, dropped afterwards."""
    if not postgres_server.alive():
        pytest.fail(f"PostgreSQL server died:\n{postgres_server.log_tail()}", pytrace=False)
    database = postgres_server.create_database()
    try:
        yield database
    finally:
        try:
            postgres_server.drop_database(database.db_name)
        except Exception:  # noqa: BLE001 -- the whole server goes away at session end anyway
            pass

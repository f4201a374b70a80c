"""Environment settings, read in one place. Every variable has a local default so that a fresh
checkout runs with no configuration; production sets GRADING_ENV=prod."""

from __future__ import annotations

import datetime as dt
import os


DEFAULT_DATA_DIR = "data"
# The local Dagster instance's folder, beside data/: the one `make demo` and `make dev` use (the
# Makefile exports it as DAGSTER_HOME), so that the CLI's runs and reports see the same instance.
DEFAULT_DAGSTER_HOME = ".dagster_home"
# Opening night of the 2026-27 regular season: the first date the partitions offer by default.
# A historical backfill sets GRADING_SEASON_START to its first date.
DEFAULT_SEASON_START = "2026-10-20"


# Dagster batches a run's planned events and a step's partitioned materializations into one
# storage call when DAGSTER_EVENT_BATCH_SIZE is set (it reads it on every event). The project's
# event log storages set it, unless the environment already does.
DAGSTER_EVENT_BATCH_SIZE = "1000"


def batch_dagster_events() -> None:
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", DAGSTER_EVENT_BATCH_SIZE)


def grading_env() -> str:
    env = os.environ.get("GRADING_ENV", "local").strip().lower()
    if env not in ("local", "prod"):
        raise ValueError(f"GRADING_ENV must be 'local' or 'prod', not {env!r}")
    return env


def duckdb_path() -> str:
    return os.environ.get("GRADING_DUCKDB_PATH", os.path.join(DEFAULT_DATA_DIR, "warehouse.duckdb"))


def dagster_home() -> str | None:
    """The Dagster instance the CLI records its runs in and reads them from: DAGSTER_HOME, else
    the project's .dagster_home when it exists; None when there is neither (a temporary one)."""
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return home
    return os.path.abspath(DEFAULT_DAGSTER_HOME) if os.path.isdir(DEFAULT_DAGSTER_HOME) else None


def lock_path() -> str:
    return os.environ.get("GRADING_LOCK_PATH", os.path.join(DEFAULT_DATA_DIR, "locks.sqlite"))


def lock_backend() -> str:
    default = "firestore" if grading_env() == "prod" else "sqlite"
    return os.environ.get("GRADING_LOCK_BACKEND", default).strip().lower()


def _flag(name: str, default: str) -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value in ("true", "1", "yes")


def use_lock() -> bool:
    """GRADING_USE_LOCK=false: the old system's rollback switch (no locking, said loudly)."""
    return _flag("GRADING_USE_LOCK", "true")


def proceed_when_lock_unavailable() -> bool:
    """GRADING_LOCK_PROCEED_WHEN_UNAVAILABLE=true: write unlocked (recorded, alerted) when the lock
    backend cannot be reached. Off by default: fail closed."""
    return _flag("GRADING_LOCK_PROCEED_WHEN_UNAVAILABLE", "false")


def _seconds(name: str, default: float, *, minimum: float = 0.0) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {value!r}") from None
    if seconds < minimum or seconds != seconds:
        raise ValueError(f"{name} must be at least {minimum:g} seconds, not {value!r}")
    return seconds


def lock_lease_seconds() -> float:
    """GRADING_LOCK_LEASE_SECONDS: a lease's length, renewed every third of it."""
    return _seconds("GRADING_LOCK_LEASE_SECONDS", 300.0, minimum=0.1)


def lock_max_wait_seconds() -> float:
    """GRADING_LOCK_MAX_WAIT_SECONDS: how long a run waits for a held lock, and for a lock backend
    that answers slowly or with transient errors, before it fails closed."""
    return _seconds("GRADING_LOCK_MAX_WAIT_SECONDS", 300.0)


def lock_poll_seconds() -> float:
    """GRADING_LOCK_POLL_SECONDS: the pause between attempts on a held lock."""
    return _seconds("GRADING_LOCK_POLL_SECONDS", 5.0, minimum=0.001)


def duckdb_open_timeout_seconds() -> float:
    """GRADING_DUCKDB_OPEN_TIMEOUT_SECONDS: how long to wait while another process holds the DuckDB
    file."""
    return _seconds("GRADING_DUCKDB_OPEN_TIMEOUT_SECONDS", 120.0)


def observation_days() -> int:
    """GRADING_OBSERVATION_DAYS: how many recent game dates an observation of the inputs fingerprints."""
    value = os.environ.get("GRADING_OBSERVATION_DAYS", "14").strip()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"GRADING_OBSERVATION_DAYS must be a whole number of days, at least 1, not {value!r}")
    return int(value)


def freshness_deadline() -> dt.time:
    """GRADING_FRESHNESS_DEADLINE (HH:MM, UTC): by when the previous game date must be graded."""
    value = os.environ.get("GRADING_FRESHNESS_DEADLINE", "12:00").strip()
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"GRADING_FRESHNESS_DEADLINE must be a time of day (HH:MM, UTC), not {value!r}") from None


def firestore_project() -> str | None:
    return os.environ.get("GRADING_FIRESTORE_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT") or None


def firestore_database() -> str | None:
    return os.environ.get("GRADING_FIRESTORE_DATABASE") or None


def season_start() -> dt.date:
    """GRADING_SEASON_START: the first daily partition (and the demo's first sample date)."""
    value = os.environ.get("GRADING_SEASON_START", DEFAULT_SEASON_START).strip()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"GRADING_SEASON_START must be a date (YYYY-MM-DD), not {value!r}") from None


def yesterday() -> dt.date:
    """The last complete day (UTC): the newest partition."""
    return dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)

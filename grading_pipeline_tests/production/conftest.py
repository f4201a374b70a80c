"""Fixtures of the production-instance tests: deploy/dagster.prod.yaml as the DAGSTER_HOME of a
real Dagster instance, on a throw-away PostgreSQL server (see support/postgres_server.py).

Marker ``postgres``: the test needs that server (skipped without PostgreSQL binaries, failed when
CI=true). It is registered here too, so this folder runs under ``--strict-markers`` on its own.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance

from grading_pipeline_tests.support.postgres_server import (  # noqa: F401  (fixtures)
    PostgresDatabase,
    postgres_database,
    postgres_server,
)

ROOT = Path(__file__).resolve().parents[2]
PROD_YAML = ROOT / "deploy" / "dagster.prod.yaml"
SEASON_START = dt.date(2025, 10, 21)


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs a throw-away PostgreSQL server (initdb/postgres binaries)")


@dataclass(frozen=True)
class ProdHome:
    """A DAGSTER_HOME holding deploy/dagster.prod.yaml as dagster.yaml, and its database."""

    path: Path
    database: PostgresDatabase

    @property
    def env(self) -> dict[str, str]:
        return {"DAGSTER_HOME": str(self.path), **self.database.dagster_env()}


@pytest.fixture
def prod_home(tmp_path, postgres_database, monkeypatch) -> ProdHome:
    """DAGSTER_HOME (a tmp dir with the production yaml) and DAGSTER_PG_* pointing at a fresh database."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROD_YAML, home / "dagster.yaml")
    prod = ProdHome(home, postgres_database)
    for name, value in prod.env.items():
        monkeypatch.setenv(name, value)
    return prod


@pytest.fixture
def prod_instance(prod_home) -> Iterator[DagsterInstance]:
    """The instance loaded the way every Dagster process loads it: DagsterInstance.get()."""
    instance = DagsterInstance.get()
    try:
        yield instance
    finally:
        instance.dispose()


@pytest.fixture
def season(warehouse):
    """Sample input tables for a few days, loaded into the tmp_path warehouse (root conftest)."""
    from grading_pipeline.sample_data import generate_season
    from grading_pipeline_tests.support.warehouse_rows import ACTUALS, PREDICTIONS

    season = generate_season(SEASON_START, 3, predictions_per_day=120, seed=5)
    warehouse.ensure_tables(include_inputs=True)
    warehouse.load_rows(PREDICTIONS, season.predictions)
    warehouse.load_rows(ACTUALS, season.actuals)
    return season

"""Fingerprints of the inputs per game date: what an observation records as each date's data
version, so that a date whose box scores arrive, or are corrected, is seen to change. Engine- and
Dagster-agnostic, like grading.py."""

from __future__ import annotations

import datetime as dt

from grading_pipeline import settings
from grading_pipeline.tables import InputTable
from grading_pipeline.warehouse.base import WarehouseSession

NO_ROWS = "rows=0"  # the version of a date without a row: its first rows are a change too


def observation_window(end: dt.date | None = None, days: int | None = None) -> tuple[dt.date, dt.date]:
    """The recent game dates an observation covers: the last `days` (GRADING_OBSERVATION_DAYS) up to
    `end` (yesterday), never before the first partition."""
    end = end or settings.yesterday()
    start = max(settings.season_start(), end - dt.timedelta(days=(days or settings.observation_days()) - 1))
    return start, end


def input_fingerprints(session: WarehouseSession, table: InputTable, start: dt.date, end: dt.date) -> dict[dt.date, str]:
    """Every date of [start, end]: its version (sql/macros/fingerprint_version.sql), NO_ROWS for a
    date without a row."""
    found = {row["game_date"]: row["version"]
             for row in session.query(table.fingerprint_sql, {"start_date": start, "end_date": end})}
    days = (end - start).days + 1
    return {day: found.get(day, NO_ROWS) for day in (start + dt.timedelta(days=i) for i in range(max(days, 0)))}

"""The duplicate cleanup job on the BigQuery warehouse (the emulator): the seed's pattern in, the
unique keys out, the earliest graded_at kept, the backup intact, performance recomputed."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import DagsterInstance

from grading_pipeline.cleanup import cleanup_duplicates
from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline.resources.partition_lock import PartitionLockResource
from grading_pipeline.sample_data import generate_season
from grading_pipeline_tests.bigquery.conftest import bq_rows

pytestmark = pytest.mark.bigquery

START = dt.date(2025, 11, 3)
KEYS = "SELECT COUNT(*) AS n FROM (SELECT DISTINCT player_lookup, game_id, system_id, line_value " \
       "FROM nba_predictions.prediction_accuracy WHERE game_date IS NOT NULL)"


def count(warehouse, sql: str) -> int:
    return int(bq_rows(warehouse, sql)[0]["n"])


def test_cleanup_on_bigquery(bq_warehouse, tmp_path):
    season = generate_season(START, days=3, predictions_per_day=120, off_day_every=0)
    bq_warehouse.ensure_tables(include_inputs=True)
    bq_warehouse.load_rows("nba_predictions.player_prop_predictions", season.predictions, season.game_dates)
    bq_warehouse.load_rows("nba_analytics.player_game_summary", season.actuals, season.game_dates)
    first, last = season.game_dates[0], season.game_dates[-1]
    with bq_warehouse.session() as session:
        assert publish_dates(session, first, last, policy=GradingPolicy()).committed
    # The old system's failure on the middle date: every row graded a second time, an hour later.
    _insert_copies(bq_warehouse, season.game_dates[1])
    rows = count(bq_warehouse, "SELECT COUNT(*) AS n FROM nba_predictions.prediction_accuracy WHERE game_date IS NOT NULL")
    keys = count(bq_warehouse, KEYS)
    assert rows > keys

    lock = PartitionLockResource(backend="sqlite", sqlite_path=str(tmp_path / "locks.sqlite"), poll_interval_seconds=0.05)
    result = cleanup_duplicates.execute_in_process(
        resources={"warehouse": bq_warehouse, "partition_lock": lock}, instance=DagsterInstance.ephemeral()
    )
    outcome = result.output_for_node("deduplicate_prediction_accuracy")
    assert outcome["affected_dates"] == [str(season.game_dates[1])] and outcome["rows_after"] == keys
    assert count(bq_warehouse, "SELECT COUNT(*) AS n FROM nba_predictions.prediction_accuracy WHERE game_date IS NOT NULL") == keys
    latest = bq_rows(bq_warehouse, "SELECT MAX(graded_at) AS t, MIN(graded_at) AS f FROM nba_predictions.prediction_accuracy "
                                   "WHERE game_date IS NOT NULL")[0]
    assert latest["t"] - latest["f"] < dt.timedelta(hours=1)  # the later copies are gone
    backup = outcome["backup_table"]
    assert count(bq_warehouse, f"SELECT COUNT(*) AS n FROM {backup} WHERE game_date IS NOT NULL") == rows
    disagreements = bq_rows(bq_warehouse, "SELECT COUNT(*) AS n FROM nba_predictions.system_daily_performance p JOIN "
                                          "(SELECT game_date, system_id, COUNT(*) AS c FROM nba_predictions.prediction_accuracy "
                                          "WHERE game_date IS NOT NULL GROUP BY 1, 2) g USING (game_date, system_id) "
                                          "WHERE p.game_date IS NOT NULL AND p.predictions_count <> g.c")
    assert int(disagreements[0]["n"]) == 0


def _insert_copies(warehouse, day: dt.date) -> None:
    with warehouse.session() as session:
        session.query_text(
            "INSERT INTO nba_predictions.prediction_accuracy SELECT * REPLACE "
            "(TIMESTAMP_ADD(graded_at, INTERVAL 1 HOUR) AS graded_at) FROM nba_predictions.prediction_accuracy "
            "WHERE game_date = @day", {"day": day},
        )

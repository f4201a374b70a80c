"""A partition of the grading job materializes on the production instance, and what it recorded is
read back from PostgreSQL -- by a freshly loaded instance and by plain SQL."""

from __future__ import annotations

import pytest
from dagster import AssetKey, DagsterEventType, DagsterInstance, Definitions

from grading_pipeline_tests.conftest import fetch

ACCURACY = AssetKey(["nba_predictions", "prediction_accuracy"])
PERFORMANCE = AssetKey(["nba_predictions", "system_daily_performance"])
SCORECARD = AssetKey(["nba_predictions", "system_scorecard"])

pytestmark = pytest.mark.postgres


def grading_job(warehouse, partition_lock):
    """The code location's grading job, on the tmp_path resources of the root conftest."""
    from grading_pipeline.assets import grade_game_dates
    from grading_pipeline.checks import no_duplicates_in_recent_days
    from grading_pipeline.jobs import grade_game_date_job

    defs = Definitions(
        assets=[grade_game_dates],
        asset_checks=[no_duplicates_in_recent_days],
        jobs=[grade_game_date_job],
        resources={"warehouse": warehouse, "partition_lock": partition_lock},
    )
    return defs.resolve_job_def(grade_game_date_job.name)


def test_a_partition_materializes_and_is_read_back_from_postgres(
    prod_instance, prod_home, season, warehouse, partition_lock
):
    day = season.game_dates[1].isoformat()
    result = grading_job(warehouse, partition_lock).execute_in_process(partition_key=day, instance=prod_instance)
    assert result.success
    run_id = result.run_id

    # A second, independent instance (new connections) sees the run and both materializations.
    fresh = DagsterInstance.get()
    try:
        run = fresh.get_run_by_id(run_id)
        assert run is not None and run.is_success
        assert run.tags["dagster/partition"] == day
        for key in (ACCURACY, PERFORMANCE, SCORECARD):
            records = fresh.fetch_materializations(key, limit=10).records
            assert [r.partition_key for r in records] == [day]
            assert records[0].run_id == run_id
        graded = fetch(warehouse, "SELECT COUNT(*) FROM nba_predictions.prediction_accuracy WHERE game_date = ?", [day])
        meta = fresh.fetch_materializations(ACCURACY, limit=1).records[0].asset_materialization.metadata
        assert meta["rows_graded"].value == graded[0][0] > 0
        assert fresh.get_materialized_partitions(ACCURACY) == {day}
    finally:
        fresh.dispose()

    # And the rows are really in PostgreSQL's event log.
    rows = prod_home.database.query(
        "SELECT dagster_event_type, asset_key, partition FROM event_logs WHERE run_id = %s "
        "AND dagster_event_type IN (%s, %s)",
        (run_id, DagsterEventType.ASSET_MATERIALIZATION.value, DagsterEventType.ASSET_CHECK_EVALUATION.value),
    )
    materialized = {(r[1], r[2]) for r in rows if r[0] == DagsterEventType.ASSET_MATERIALIZATION.value}
    assert materialized == {(key.to_string(), day) for key in (ACCURACY, PERFORMANCE, SCORECARD)}
    from grading_pipeline.assets import grade_game_dates

    checks = len(grade_game_dates.check_keys)  # every partition check of the three assets, once
    assert sum(r[0] == DagsterEventType.ASSET_CHECK_EVALUATION.value for r in rows) == checks
    evaluated = prod_home.database.query(
        "SELECT check_name, partition, execution_status FROM asset_check_executions WHERE run_id = %s", (run_id,))
    assert len(evaluated) == checks and {(r[1], r[2]) for r in evaluated} == {(day, "SUCCEEDED")}  # on the date's partition
    (status,) = prod_home.database.query("SELECT status FROM runs WHERE run_id = %s", (run_id,))[0]
    assert status == "SUCCESS"

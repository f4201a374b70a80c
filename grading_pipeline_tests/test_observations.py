"""The inputs as observed source assets: each recent game date's fingerprint is its data version,
and it changes exactly when that date's rows do."""

from __future__ import annotations

import datetime as dt

import pytest
from dagster import AssetKey, Definitions

from grading_pipeline.assets import observed_inputs
from grading_pipeline.observations import NO_ROWS, input_fingerprints, observation_window
from grading_pipeline.tables import ACTUALS, PREDICTIONS
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import ACTUALS as ACTUALS_TABLE
from grading_pipeline_tests.support.warehouse_rows import actual, load, prediction

DAYS = [dt.date(2025, 11, 3), dt.date(2025, 11, 4), dt.date(2025, 11, 5)]


def seed(warehouse) -> None:
    predictions = [prediction(p, game_date=d) for d in DAYS[:2] for p in ("alpha", "bravo")]
    actuals = [actual(p, 20 + i, game_date=d) for i, d in enumerate(DAYS[:2]) for p in ("alpha", "bravo")]
    load(warehouse, predictions, actuals, dates=DAYS)


def fingerprints(warehouse, table, start=DAYS[0], end=DAYS[-1]):
    with warehouse.session(read_only=True) as session:
        return input_fingerprints(session, table, start, end)


def test_a_fingerprint_changes_exactly_when_its_dates_rows_do(warehouse):
    seed(warehouse)
    before = fingerprints(warehouse, ACTUALS)
    assert list(before) == DAYS and before[DAYS[2]] == NO_ROWS
    assert before[DAYS[0]].startswith("rows=2;hash=") and before[DAYS[0]] != before[DAYS[1]]
    assert fingerprints(warehouse, PREDICTIONS)[DAYS[0]].startswith("rows=2;")
    with warehouse._connection() as con:  # the NBA corrects one stat of the second date
        con.execute(f"UPDATE {ACTUALS_TABLE} SET points = points + 1 WHERE game_date = ? AND player_lookup = 'bravo'", [DAYS[1]])
    after = fingerprints(warehouse, ACTUALS)
    assert after[DAYS[0]] == before[DAYS[0]] and after[DAYS[2]] == before[DAYS[2]]
    assert after[DAYS[1]] != before[DAYS[1]] and after[DAYS[1]].startswith("rows=2;")
    with warehouse._connection() as con:  # the same rows again, loaded in another order: no change
        rows = con.execute(f"SELECT * FROM {ACTUALS_TABLE} ORDER BY player_lookup DESC").fetchall()
        con.execute(f"DELETE FROM {ACTUALS_TABLE}")
        con.executemany(f"INSERT INTO {ACTUALS_TABLE} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    assert fingerprints(warehouse, ACTUALS) == after


def test_the_window_is_the_last_days_up_to_yesterday_from_the_first_partition(monkeypatch):
    monkeypatch.setenv("GRADING_OBSERVATION_DAYS", "14")
    assert observation_window(dt.date(2026, 1, 20)) == (dt.date(2026, 1, 7), dt.date(2026, 1, 20))
    assert observation_window(dt.date(2025, 10, 25)) == (dt.date(2025, 10, 21), dt.date(2025, 10, 25))  # season start
    monkeypatch.setenv("GRADING_OBSERVATION_DAYS", "0")
    with pytest.raises(ValueError, match="GRADING_OBSERVATION_DAYS"):
        observation_window(dt.date(2026, 1, 20))


def test_an_observation_records_each_dates_fingerprint_as_its_data_version(warehouse, instance, monkeypatch):
    seed(warehouse)
    monkeypatch.setattr("grading_pipeline.assets.inputs.observation_window", lambda: (DAYS[0], DAYS[-1]))
    from grading_pipeline.jobs import observe_inputs_job

    defs = Definitions(assets=observed_inputs, jobs=[observe_inputs_job], resources={"warehouse": warehouse})
    result = defs.resolve_job_def("observe_inputs").execute_in_process(instance=instance)
    assert result.success
    for table in (PREDICTIONS, ACTUALS):
        expected = fingerprints(warehouse, table)
        for day, version in expected.items():
            record = instance.get_latest_data_version_record(table.asset_key, is_source=True, partition_key=day.isoformat())
            assert record is not None, (table.name, day)
            assert record.asset_observation.tags["dagster/data_version"] == version
    (graded_rows,), = fetch(warehouse, "SELECT COUNT(*) FROM nba_predictions.prediction_accuracy")
    assert graded_rows == 0  # an observation reads; it grades nothing


def test_the_inputs_are_upstream_of_the_grades_with_their_kind():
    from grading_pipeline.definitions import defs

    graph = defs.resolve_asset_graph()
    accuracy = AssetKey(["nba_predictions", "prediction_accuracy"])
    assert graph.get(accuracy).parent_keys == {PREDICTIONS.asset_key, ACTUALS.asset_key}
    for table in (PREDICTIONS, ACTUALS):
        node = graph.get(table.asset_key)
        assert node.is_observable and not node.is_materializable
        assert "duckdb" in node.kinds


def test_each_graded_date_records_the_fingerprints_it_was_graded_from(warehouse, grade):
    seed(warehouse)
    result = grade(DAYS[0], DAYS[1])
    expected = {t.name.split(".")[1]: fingerprints(warehouse, t) for t in (PREDICTIONS, ACTUALS)}
    seen = {}
    for event in result.get_asset_materialization_events():
        if event.asset_key.path[-1] == "prediction_accuracy":
            metadata = event.materialization.metadata
            seen[event.partition] = (metadata["graded_from_player_prop_predictions"].value,
                                     metadata["graded_from_player_game_summary"].value)
    assert seen == {d.isoformat(): (expected["player_prop_predictions"][d], expected["player_game_summary"][d])
                    for d in DAYS[:2]}

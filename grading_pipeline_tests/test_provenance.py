"""Provenance: each graded row says which run wrote it, under which fencing token, and from which
versions of the inputs; the check `rows_under_latest_fence` finds rows no latest locked write left."""

from __future__ import annotations

import datetime as dt

from dagster import AssetKey

from grading_pipeline.audits import ROWS_UNDER_LATEST_FENCE
from grading_pipeline.grading import audit_stored, publish_dates
from grading_pipeline.observations import input_fingerprints
from grading_pipeline.tables import INPUT_TABLES, PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE
from grading_pipeline.warehouse.base import Fence
from grading_pipeline_tests.conftest import fetch
from grading_pipeline_tests.support.warehouse_rows import GAME_DATE, actual, load, prediction

ACCURACY = PREDICTION_ACCURACY.name
PROVENANCE = "graded_by_run, fencing_token, graded_from_player_prop_predictions, graded_from_player_game_summary"


def provenance(warehouse) -> set[tuple]:
    return set(fetch(warehouse, f"SELECT {PROVENANCE} FROM {ACCURACY} WHERE game_date = ?", [GAME_DATE]))


def fence_check(warehouse):
    with warehouse.session(read_only=True) as session:
        return audit_stored(session, GAME_DATE, GAME_DATE, [ROWS_UNDER_LATEST_FENCE])[ROWS_UNDER_LATEST_FENCE.name][GAME_DATE]


def publish(warehouse, token: int | None, run_id: str):
    fences = None if token is None else {
        t.name: [Fence(t.lock_type, GAME_DATE, token, f"holder-{token}")] for t in (PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE)}
    with warehouse.session() as session:
        for table, table_fences in (fences or {}).items():
            session.claim_fences(table, table_fences)
        return publish_dates(session, GAME_DATE, GAME_DATE, fences=fences, run_id=run_id)


def test_every_graded_row_records_its_run_its_fencing_token_and_its_inputs(grade, warehouse, instance):
    load(warehouse, [prediction(p) for p in ("alpha", "bravo", "charlie")], [actual(p, 20) for p in ("alpha", "bravo", "charlie")])
    result = grade(GAME_DATE)
    (record,) = instance.fetch_materializations(AssetKey(ACCURACY.split(".")), limit=1).records
    metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    with warehouse.session(read_only=True) as session:
        versions = {t.name: input_fingerprints(session, t, GAME_DATE, GAME_DATE)[GAME_DATE] for t in INPUT_TABLES}
    (row,) = provenance(warehouse)  # one provenance for the date's rows
    assert row == (result.run_id, metadata["lock_fencing_token"], *versions.values())
    # The materialization says the same, read back inside the write's transaction.
    assert [metadata[f"graded_from_{name.split('.')[1]}"] for name in versions] == list(versions.values())
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == ROWS_UNDER_LATEST_FENCE.name]
    assert evaluation.passed and evaluation.metadata["stale_rows"].value == 0


def test_a_stale_writers_rows_beside_the_latest_writes_fail_the_fence_check(warehouse):
    load(warehouse, [prediction("alpha"), prediction("bravo")], [actual("alpha", 25), actual("bravo", 12)])
    assert publish(warehouse, 10, "run-10").committed
    assert fence_check(warehouse).passed
    # A writer whose lease was taken over adds its copy of a row (as no whole-date write does).
    with warehouse._connection() as con:
        con.execute(f"INSERT INTO {ACCURACY} SELECT * REPLACE (7 AS fencing_token, 'stale-run' AS graded_by_run) "
                    f"FROM {ACCURACY} WHERE player_lookup = 'alpha'")
    finding = fence_check(warehouse)
    assert not finding.passed and finding.metadata["stale_rows"] == 1
    assert finding.metadata["written_under"] == "1 rows under 7 by run stale-run, 2 rows under 10 by run run-10"
    assert finding.metadata["latest_fencing_token"] == 10


def test_an_unlocked_write_after_a_locked_one_fails_it_and_a_claim_that_never_wrote_does_not(warehouse):
    load(warehouse, [prediction("alpha")], [actual("alpha", 25)])
    assert publish(warehouse, 10, "run-10").committed
    assert publish(warehouse, None, "unlocked-run").committed
    assert {r[:2] for r in provenance(warehouse)} == {("unlocked-run", None)}
    finding = fence_check(warehouse)
    assert not finding.passed and "1 rows under no lock by run unlocked-run" in finding.description
    assert publish(warehouse, 12, "run-12").committed and fence_check(warehouse).passed
    with warehouse.session() as session:  # a successor claims, then its run fails before writing
        session.claim_fences(ACCURACY, [Fence("grading", GAME_DATE, 13, "holder-13")])
    assert fence_check(warehouse).passed  # the previous write's rows stand, whole


def test_a_table_of_an_older_version_gains_the_provenance_columns_and_keeps_its_rows(warehouse):
    load(warehouse, [prediction("alpha")], [actual("alpha", 25)])
    old_columns = "player_lookup, game_id, game_date, system_id, is_voided, graded_at"
    with warehouse._connection() as con:
        con.execute(f"DROP TABLE {ACCURACY}")
        con.execute(f"CREATE TABLE {ACCURACY} (player_lookup VARCHAR NOT NULL, game_id VARCHAR NOT NULL, "
                    "game_date DATE NOT NULL, system_id VARCHAR NOT NULL, is_voided BOOLEAN NOT NULL, graded_at TIMESTAMP NOT NULL)")
        con.execute(f"INSERT INTO {ACCURACY} VALUES ('old', 'g0', ?, 's', FALSE, now())", [GAME_DATE - dt.timedelta(days=1)])
    for _ in range(2):  # idempotent
        warehouse.ensure_tables()
    assert fetch(warehouse, f"SELECT {old_columns.split(',')[0]}, {PROVENANCE} FROM {ACCURACY}") == [("old", None, None, None, None)]
    assert fence_check(warehouse).passed  # rows from before provenance are not judged
    assert publish(warehouse, 3, "run-3").committed
    assert {r[1] for r in provenance(warehouse)} == {3}

"""Bad input on BigQuery (the emulator): clear errors, and nothing already graded is lost."""

from __future__ import annotations

import pytest

from grading_pipeline.errors import ActualsNotLoadedError, BadInputError, MissingTableError
from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline_tests.bigquery.conftest import bq_rows
from grading_pipeline_tests.support.warehouse_rows import ACTUALS, GAME_DATE, actual, frame, load, prediction

pytestmark = pytest.mark.bigquery

OTHER_GAME = "20251103_LAL_BOS"


def grade(warehouse, policy=GradingPolicy()):
    with warehouse.session() as session:
        return publish_dates(session, GAME_DATE, GAME_DATE, policy=policy)


def graded_rows(warehouse) -> list[dict]:
    return bq_rows(warehouse, "SELECT player_lookup, is_voided, predicted_points FROM "
                              "nba_predictions.prediction_accuracy WHERE game_date = @d ORDER BY 1", {"d": GAME_DATE})


@pytest.fixture
def graded_day(bq_warehouse):
    load(bq_warehouse, [prediction("alpha"), prediction("bravo", game_id=OTHER_GAME)],
         [actual("alpha", 25), actual("bravo", 12, game_id=OTHER_GAME)])
    grade(bq_warehouse)
    assert len(graded_rows(bq_warehouse)) == 2
    return bq_warehouse


def test_a_missing_input_table_is_named(bq_warehouse):
    bq_warehouse.ensure_tables()  # outputs only
    with pytest.raises(MissingTableError, match="player_prop_predictions"):
        grade(bq_warehouse)


def test_a_query_on_a_missing_table_is_a_missing_table_error_not_an_empty_result(bq_warehouse):
    bq_warehouse.ensure_tables()
    with bq_warehouse.session() as session, pytest.raises(MissingTableError, match="Load the inputs first"):
        session.query("grading/source_health.sql", {"start_date": GAME_DATE, "end_date": GAME_DATE, "max_points": 100.0})


def test_actuals_not_loaded_fails_without_voiding_the_day(graded_day):
    before = graded_rows(graded_day)
    graded_day.load_rows(ACTUALS, frame(ACTUALS, []), [GAME_DATE])  # the box scores vanish
    with pytest.raises(ActualsNotLoadedError, match="actuals not loaded"):
        grade(graded_day)
    assert graded_rows(graded_day) == before and not any(r["is_voided"] for r in before)


@pytest.mark.parametrize("column", ["player_lookup", "game_id", "system_id"])
def test_rows_with_null_key_columns_are_refused(graded_day, column):
    before = graded_rows(graded_day)
    load(graded_day, [prediction("alpha"), prediction("zulu", **{column: None})], [actual("alpha", 25)],
         dates=[GAME_DATE])
    with pytest.raises(BadInputError, match="1 active prediction"):
        grade(graded_day)
    assert graded_rows(graded_day) == before


def test_a_write_that_fails_inside_the_transaction_rolls_back_whole(graded_day, monkeypatch):
    """A statement failing after the DELETE (here: an INSERT whose text is broken) leaves the
    date exactly as it was."""
    from grading_pipeline.warehouse.bigquery_warehouse import BigQuerySession

    before = graded_rows(graded_day)
    render_as_written = BigQuerySession._render

    def render(self, name):
        text = render_as_written(self, name)
        return text.replace("CURRENT_TIMESTAMP() AS graded_at", "ERROR('boom') AS graded_at") \
            if name == "grading/grade_predictions.sql" else text

    monkeypatch.setattr(BigQuerySession, "_render", render)
    with pytest.raises(Exception, match="boom"):
        grade(graded_day)
    monkeypatch.undo()
    assert graded_rows(graded_day) == before


def test_the_cleanup_can_back_up_and_restore_the_graded_table(graded_day):
    """The cleanup's table operations (backup by CREATE TABLE AS, whole-table restore in one
    transaction, drop) on BigQuery."""
    backup = "nba_predictions.prediction_accuracy_backup_test"
    before = graded_rows(graded_day)
    with graded_day.session() as session:
        assert session.create_table_as(backup, "cleanup/backup.sql", {}) == 2
        report = session.query("cleanup/report.sql", {})
        assert [(r["game_date"], r["row_count"], r["duplicate_keys"]) for r in report] == [(GAME_DATE, 2, 0)]
    load(graded_day, [prediction("alpha", predicted_points=33.0)], [actual("alpha", 25)], dates=[GAME_DATE])
    grade(graded_day)
    assert graded_rows(graded_day) != before
    with graded_day.session() as session:
        assert session.restore_table("nba_predictions.prediction_accuracy", backup) == 2
        session.drop_table(backup)
        assert session.missing_tables([backup]) == [backup]
    assert graded_rows(graded_day) == before


def test_an_input_column_of_another_type_is_named_on_bigquery(bq_warehouse):
    from google.cloud import bigquery

    from grading_pipeline.errors import SchemaMismatchError
    from grading_pipeline.warehouse.bigquery_warehouse import table_spec_for

    bq_warehouse.ensure_tables()
    table = "nba_predictions.player_prop_predictions"
    with bq_warehouse.client_resource().get_client() as client:
        for logical in (table, "nba_analytics.player_game_summary"):
            dataset, name = logical.split(".")
            ref = bigquery.DatasetReference(bq_warehouse.project, bq_warehouse.physical_dataset(dataset))
            client.create_dataset(bigquery.Dataset(ref), exists_ok=True)
            schema = [bigquery.SchemaField(f.name, "STRING" if f.name == "predicted_points" else f.field_type)
                      for f in table_spec_for(logical).schema]
            client.create_table(bigquery.Table(ref.table(name), schema=schema), exists_ok=True)
    with pytest.raises(SchemaMismatchError, match="player_prop_predictions.predicted_points: expected NUMERIC, found STRING"):
        grade(bq_warehouse)

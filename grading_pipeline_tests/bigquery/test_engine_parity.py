"""One SQL source, two engines: the BigQuery warehouse (on the local emulator) grades exactly like
the DuckDB warehouse.

What the emulator (bqemulator 1.4.0, DuckDB underneath, SQL translated by sqlglot) cannot prove,
and how the production path stays clear of it:

* Isolation and conflicts. The emulator runs a whole script without interleaving other jobs and
  implements transactions by snapshot-and-restore, so it proves that our write is ONE job that
  commits or rolls back whole, not BigQuery's snapshot isolation or its cancelling of conflicting
  transactions. Production relies on documented BigQuery behaviour there (a multi-statement
  transaction is atomic; a conflicting one is cancelled) and retries the whole unit on
  "concurrent update" errors (tested with a fake client in test_retries.py).
* Query parameters inside scripts: bqemulator drops them; the fixture starts it with a small shim
  that binds them (support/bigquery_emulator.py), so the production script runs unchanged.
* RAISE in a script crashes the emulator's request (HTTP 500, retried by the client) instead of
  failing the job, and ASSERT is not parsed: the fence check uses `ERROR()` instead, which both
  run the same way.
* TEMP tables outlive their script on the emulator (they become tables of a dataset); our temp
  tables get unique names, which BigQuery does not need but does not mind.
* require_partition_filter is neither reported nor enforced by the emulator (clustering is, for
  tables created through the API): every query in sql/ filters game_date, and the table
  definitions are checked against the DDL in test_tables.py, not against the emulator.
* Streaming inserts, partition-decorator loads (`table$YYYYMMDD` WRITE_TRUNCATE), CSV loads
  (drop a row), `load_table_from_json/_dataframe`, `ALTER TABLE RENAME`, `CREATE TABLE COPY`: not
  used by the production path at all (loads are NDJSON load jobs into a staging table plus one
  transaction).
* Dataset location: the emulator rejects a dataset whose location is null (HTTP 500); the
  warehouse sends a location only when one is configured.
* Performance, quotas, slot contention and IAM are not emulated.
"""

from __future__ import annotations

import datetime as dt

import pytest

from grading_pipeline.grading import GradingPolicy, publish_dates
from grading_pipeline.tables import PREDICTION_ACCURACY, SYSTEM_DAILY_PERFORMANCE, SYSTEM_SCORECARD
from grading_pipeline.sample_data import generate_season
from grading_pipeline_tests.bigquery.conftest import UNCOMPARABLE_COLUMNS, bq_rows, duck_rows, table_rows

pytestmark = pytest.mark.bigquery

START = dt.date(2025, 11, 3)
ACCURACY_TABLE, PERFORMANCE_TABLE = PREDICTION_ACCURACY.name, SYSTEM_DAILY_PERFORMANCE.name


@pytest.fixture(scope="module")
def season():
    # Four calendar days, ~300 prediction rows a day, every awkward case present on each day.
    return generate_season(START, days=4, predictions_per_day=300, off_day_every=0)


def load_and_grade(warehouse, season, day_by_day: bool):
    warehouse.ensure_tables(include_inputs=True)
    warehouse.load_rows("nba_predictions.player_prop_predictions", season.predictions, season.game_dates)
    warehouse.load_rows("nba_analytics.player_game_summary", season.actuals, season.game_dates)
    first, last = season.game_dates[0], season.game_dates[-1]
    writes = []
    with warehouse.session() as session:
        spans = [(d, d) for d in season.game_dates] if day_by_day else [(first, last)]
        for start, end in spans:
            published = publish_dates(session, start, end, policy=GradingPolicy())
            assert published.committed
            writes.append(published)
    return writes


def figures(writes):
    """What the writes reported, per date, engine-independent: source figures, rows written and
    replaced, the per-date summaries, and every audit's findings."""
    out = {}
    for published in writes:
        write = published.publication
        for day, row in published.source_health.items():
            out[("health", day)] = row
        for table in write.rows_written:
            out[(table, "rows_written", write.start_date)] = write.rows_written[table]
            out[(table, "rows_replaced", write.start_date)] = write.rows_replaced[table]
            for day, rows in write.summaries.get(table, {}).items():
                # Left out: the inputs' versions, each engine's own fingerprints.
                out[(table, "per_date", day)] = [{k: _num(v) for k, v in row.items() if k not in UNCOMPARABLE_COLUMNS} for row in rows]
        for name, rows in write.audit_rows.items():
            out[("audit", name, write.start_date)] = [{k: _num(v) for k, v in r.items()} for r in rows]
    return out


def _num(value):
    return float(value) if hasattr(value, "as_tuple") else value


@pytest.mark.parametrize("day_by_day", [False, True], ids=["one-range-write", "date-by-date"])
def test_both_engines_grade_a_sample_season_identically(bq_warehouse, duck_warehouse, season, day_by_day):
    bq_writes = load_and_grade(bq_warehouse, season, day_by_day)
    duck_writes = load_and_grade(duck_warehouse, season, day_by_day)
    first, last = season.game_dates[0], season.game_dates[-1]

    for table in (ACCURACY_TABLE, PERFORMANCE_TABLE, SYSTEM_SCORECARD.name):
        bq = table_rows(bq_rows, bq_warehouse, table, first, last)
        duck = table_rows(duck_rows, duck_warehouse, table, first, last)
        assert len(bq) == len(duck) > 0, table
        mismatched = [(b, d) for b, d in zip(bq, duck) if b != d]
        assert not mismatched, f"{table}: {len(mismatched)} rows differ, first: {mismatched[0]}"

    assert figures(bq_writes) == figures(duck_writes)
    graded = sum(w.publication.rows_written[ACCURACY_TABLE] for w in bq_writes)
    assert graded == len(table_rows(bq_rows, bq_warehouse, ACCURACY_TABLE, first, last))


def test_every_check_and_report_query_runs_alike(bq_warehouse, duck_warehouse, season):
    """The asset checks and reports read the warehouse with the other texts of sql/: same answers."""
    load_and_grade(bq_warehouse, season, day_by_day=False)
    load_and_grade(duck_warehouse, season, day_by_day=False)
    params = {"start_date": season.game_dates[0], "end_date": season.game_dates[-1], "sample_size": 20, "max_points": 100.0}
    names = [
        "checks/duplicate_business_keys.sql", "checks/performance_disagreements.sql",
        "checks/performance_duplicates.sql", "checks/value_sanity.sql", "checks/actuals_coverage.sql",
        "checks/graded_rows_match_source.sql", "reports/graded_dates.sql", "grading/source_health.sql",
    ]
    with bq_warehouse.session() as bq, duck_warehouse.session() as duck:
        for name in names:
            got, want = bq.query(name, params), duck.query(name, params)
            assert [{k: _num(v) for k, v in r.items()} for r in got] == \
                   [{k: _num(v) for k, v in r.items()} for r in want], name


def test_a_regrade_reports_the_same_changed_grades_on_both_engines(bq_warehouse, duck_warehouse, season):
    """A stat correction on one date, then the season graded again: each engine reports, from inside
    its write (the previous grades copied before the DELETE), the same changed grades per system."""
    first, last = season.game_dates[0], season.game_dates[-1]
    corrected = season.actuals[season.actuals["game_date"] == first].copy()
    corrected["points"] = (corrected["points"] - 5).clip(lower=0)  # every player of the date: 5 fewer
    changes = {}
    for name, warehouse in (("bigquery", bq_warehouse), ("duckdb", duck_warehouse)):
        load_and_grade(warehouse, season, day_by_day=False)
        warehouse.load_rows("nba_analytics.player_game_summary", corrected, [first])
        with warehouse.session() as session:
            published = publish_dates(session, first, last, policy=GradingPolicy())
        assert published.committed
        changes[name] = {day: [{k: _num(v) for k, v in row.items()} for row in rows]
                         for day, rows in published.grade_changes.items()}
    assert set(changes["duckdb"]) == {first}  # the other dates' grades did not move
    assert sum(int(row["grades_changed"]) for row in changes["duckdb"][first]) > 0
    assert changes["bigquery"] == changes["duckdb"]

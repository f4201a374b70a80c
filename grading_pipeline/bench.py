"""`grading-pipeline bench`: what the pipeline costs next to DuckDB running the same SQL alone.

Each figure grades fresh sample data in a throw-away DuckDB file (and SQLite lock) under a temp
folder, so the benchmark never touches the user's warehouse.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from dagster import DagsterInstance, materialize

from grading_pipeline.sql_catalog import SqlDialect

DUCKDB = SqlDialect("duckdb")
START = dt.date(2025, 10, 21)
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def _setup(folder: Path, days: int, per_day: int):
    from grading_pipeline.resources.partition_lock import PartitionLockResource
    from grading_pipeline.sample_data import generate_season
    from grading_pipeline.warehouse import DuckDBWarehouse

    season = generate_season(START, days, predictions_per_day=per_day, seed=11, off_day_every=0)
    warehouse = DuckDBWarehouse(database=str(folder / f"bench_{days}x{per_day}.duckdb"))
    warehouse.ensure_tables(include_inputs=True)
    warehouse.load_rows("nba_predictions.player_prop_predictions", season.predictions)
    warehouse.load_rows("nba_analytics.player_game_summary", season.actuals)
    lock = PartitionLockResource(backend="sqlite", sqlite_path=str(folder / f"locks_{days}x{per_day}.sqlite"))
    return warehouse, lock, len(season.predictions)


def bare_sql_seconds(warehouse, dates: list[dt.date]) -> float:
    """DuckDB alone: the grading SELECT over all the dates in one statement, into a temp table, on
    an open connection: no Dagster, no lock, no input checks, no transaction, no aggregate."""
    grade = DUCKDB.render("grading/grade_predictions.sql")
    with warehouse._connection() as con:
        started = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE bench_graded AS {grade}",
                    {"start_date": dates[0], "end_date": dates[-1]})
        return time.perf_counter() - started


def pipeline_seconds(warehouse, lock, dates: list[dt.date]) -> tuple[float, float]:
    """Both assets through Dagster for the dates, as one run; (run wall time, assets' own time)."""
    from grading_pipeline.assets import prediction_accuracy, system_daily_performance

    if len(dates) == 1:
        selection = {"partition_key": dates[0].isoformat()}
    else:
        selection = {"tags": {RANGE_START_TAG: dates[0].isoformat(), RANGE_END_TAG: dates[-1].isoformat()}}
    started = time.perf_counter()
    result = materialize(
        [prediction_accuracy, system_daily_performance],
        resources={"warehouse": warehouse, "partition_lock": lock},
        instance=DagsterInstance.ephemeral(),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        **selection,
    )
    wall = time.perf_counter() - started
    asset_seconds = sum(
        float(m.materialization.metadata["seconds"].value)
        for m in result.get_asset_materialization_events()
        if m.partition == dates[0].isoformat()
    )
    return wall, asset_seconds


def run_benchmark(sizes=(1_000, 10_000, 100_000), season_days=180, season_per_day=1_000, repeats=3) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        folder = Path(tmp)
        for per_day in sizes:
            warehouse, lock, n = _setup(folder, 1, per_day)
            dates = [START]
            bare = statistics.median(bare_sql_seconds(warehouse, dates) for _ in range(repeats))
            runs = [pipeline_seconds(warehouse, lock, dates) for _ in range(repeats)]
            rows.append(_row(f"1 date, {n:,} predictions", bare, runs))
        warehouse, lock, n = _setup(folder, season_days, season_per_day)
        dates = [START + dt.timedelta(days=i) for i in range(season_days)]
        bare = statistics.median(bare_sql_seconds(warehouse, dates) for _ in range(repeats))
        runs = [pipeline_seconds(warehouse, lock, dates) for _ in range(repeats)]
        rows.append(_row(f"{season_days}-day season backfill, one run, {n:,} predictions", bare, runs))
    return rows


def cleanup_figures(target_rows: int = 497_304, unique_keys: int = 306_489) -> dict:
    """The seed's table: ~306k unique keys graded, then copies up to ~497k rows (the old system's
    ratio). Times the duplicate check over the whole table and the whole cleanup job."""
    from dagster import DagsterInstance

    from grading_pipeline.checks import find_duplicates
    from grading_pipeline.cleanup import cleanup_duplicates
    from grading_pipeline.grading import GradingPolicy, grade_dates

    days = 300
    with tempfile.TemporaryDirectory(prefix="grading-bench-cleanup-") as tmp:
        # The sample repeats ~13% of its source rows (re-runs, placeholders): ask for that many more.
        warehouse, lock, _ = _setup(Path(tmp), days, round(unique_keys / days * 1.15))
        last = START + dt.timedelta(days=days - 1)
        with warehouse.session() as session:
            grade_dates(session, START, last, GradingPolicy(min_actuals_coverage=0.0))
        with warehouse._connection() as con:
            (graded,) = con.execute("SELECT COUNT(*) FROM nba_predictions.prediction_accuracy").fetchone()
            con.execute(
                "INSERT INTO nba_predictions.prediction_accuracy SELECT * REPLACE (graded_at + INTERVAL 1 HOUR AS graded_at) "
                f"FROM nba_predictions.prediction_accuracy USING SAMPLE reservoir({max(0, target_rows - graded):d} ROWS) "
                "REPEATABLE (7)"  # a sample size must be a literal: an int formatted here, not user input
            )
            (rows,) = con.execute("SELECT COUNT(*) FROM nba_predictions.prediction_accuracy").fetchone()
        started = time.perf_counter()
        with warehouse.session() as session:
            duplicate_keys, extra_rows, _ = find_duplicates(session, START, last)
        check_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = cleanup_duplicates.execute_in_process(
            resources={"warehouse": warehouse, "partition_lock": lock},
            instance=DagsterInstance.ephemeral(),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        cleanup_seconds = time.perf_counter() - started
        outcome = result.output_for_node("deduplicate_prediction_accuracy")
    return {"rows": rows, "unique_keys": graded, "duplicate_keys": duplicate_keys, "extra_rows": extra_rows,
            "check_s": check_seconds, "cleanup_s": cleanup_seconds, "rows_after": outcome["rows_after"]}


def print_cleanup(f: dict) -> None:
    print(f"\nduplicate check over {f['rows']:,} rows ({f['unique_keys']:,} unique keys, {f['duplicate_keys']:,} "
          f"duplicated, {f['extra_rows']:,} extra): {f['check_s']:.3f} s")
    print(f"cleanup job (report, backup, deduplicate, validate, swap under locks, re-aggregate): "
          f"{f['cleanup_s']:.2f} s -> {f['rows_after']:,} rows")


def lock_latencies(n: int = 200) -> list[dict]:
    """Uncontended acquire/release latency on the embedded backend and, when gcloud is installed,
    on the Firestore emulator (started on a free loopback port for the measurement)."""
    from grading_pipeline.locks import FirestoreLockBackend, SQLiteLockBackend
    from grading_pipeline.locks.bench import bench_lock

    figures = []
    with tempfile.TemporaryDirectory(prefix="grading-bench-locks-") as tmp:
        backend = SQLiteLockBackend(Path(tmp) / "locks.sqlite")
        figures.append(bench_lock(backend, n))
        backend.close()
    try:
        from grading_pipeline_tests.support.firestore_emulator import start_firestore_emulator
    except ImportError:
        print("(Firestore emulator not measured: run from the repository root, as `make bench` does)")
        return figures
    try:
        emulator = start_firestore_emulator()
    except Exception as error:  # reported, not hidden: the figure is simply absent
        print(f"(Firestore emulator not measured: {error})")
        return figures
    try:
        import os

        os.environ.update(emulator.env())
        backend = FirestoreLockBackend(project=emulator.project)
        figures.append({**bench_lock(backend, n), "backend": "firestore (emulator)"})
        backend.close()
    finally:
        emulator.stop()
    return figures


def print_locks(figures: list[dict], date_seconds: float) -> None:
    print(f"\n{'lock backend':<24}{'acquire p50/p95':>18}{'release p50/p95':>18}{'hold cycle p50':>16}{'share of a date':>17}")
    for f in figures:
        share = f["hold_cycle"]["p50_ms"] * 2 / 1000 / date_seconds  # two assets, one lock each
        print(f"{f['backend']:<24}{f['acquire']['p50_ms']:>8.2f} / {f['acquire']['p95_ms']:<6.2f}ms"
              f"{f['release']['p50_ms']:>8.2f} / {f['release']['p95_ms']:<6.2f}ms"
              f"{f['hold_cycle']['p50_ms']:>13.2f} ms{share:>16.1%}")
    print("share of a date: two lock hold cycles (one per asset) over one 1k-prediction date's run.")


def _row(label: str, bare: float, runs: list[tuple[float, float]]) -> dict:
    wall = statistics.median(r[0] for r in runs)
    assets = statistics.median(r[1] for r in runs)
    return {"case": label, "bare_sql_s": bare, "assets_s": assets, "run_wall_s": wall,
            "assets_ratio": assets / bare, "run_ratio": wall / bare}


def print_benchmark(rows: list[dict]) -> None:
    print(f"{'case':<52}{'bare SQL':>10}{'assets':>10}{'run':>10}{'assets/bare':>13}{'run/bare':>10}")
    for r in rows:
        print(f"{r['case']:<52}{r['bare_sql_s']:>9.3f}s{r['assets_s']:>9.3f}s{r['run_wall_s']:>9.3f}s"
              f"{r['assets_ratio']:>12.1f}x{r['run_ratio']:>9.1f}x")
    print("bare SQL: DuckDB running the grading SELECT over the dates in one statement into a temp table.")
    print("assets: both assets' own time (inputs checked, per-date lock + fence, atomic replace, figures).")
    print("run: the whole in-process Dagster run (start-up, event log, both steps).")

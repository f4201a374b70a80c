"""`grading-pipeline bench` (`make bench`): what grading costs on the path users run, as ratios
measured in one run (the machines are shared and noisy; ratios travel, seconds do not).

* floor: a bare `python -c "import dagster"` process, and Dagster's own floor: a trivial asset
  launched with `dagster asset materialize` on the same kind of instance;
* launched: `dagster asset materialize` of both graded tables and every partition check, in a
  separate process, on a persistent instance (a DAGSTER_HOME with the project's dagster.yaml, as
  `make dev` uses) -- what a UI backfill, a schedule tick or the CLI executes: for one date, and
  for a whole season as one run (a single-run range backfill);
* bare SQL: DuckDB alone running the same run's grading, aggregation and scoring statements
  (replace the dates of every table) in one transaction on an open connection: no Dagster, no
  lock, no checks;
* the audits: their share of the write's own transaction (from the run's publication);
* in-process: `materialize()` on an ephemeral instance (no process start, an in-memory event log).

Every figure grades fresh sample data in a throw-away DuckDB file, SQLite lock and instance under
a temp folder: the benchmark never touches the user's warehouse or instance.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from grading_pipeline.sql_catalog import SqlDialect
from grading_pipeline.tables import GRADED_TABLES

DUCKDB = SqlDialect("duckdb")
START = dt.date(2025, 10, 21)
ROOT = Path(__file__).resolve().parent.parent
TRIVIAL_ASSET = "from dagster import Definitions, asset, in_process_executor\n" \
                "@asset\ndef trivial() -> None: ...\n" \
                "defs = Definitions(assets=[trivial], executor=in_process_executor)\n"

# Dagster's own floor for a season run's events: a no-op multi-asset with the graded tables' shape
# (three daily-partitioned assets, the same checks) recording what the grading records for each
# date (its metadata, every check's evaluation), and doing nothing else.
EVENT_FLOOR_ASSET = """
from dagster import (AssetCheckEvaluation, AssetCheckSpec, AssetKey, AssetSpec, BackfillPolicy, DailyPartitionsDefinition,
                     Definitions, MaterializeResult, in_process_executor, multi_asset)

days = DailyPartitionsDefinition(start_date="{start}")
tables = {tables!r}
checks = {checks!r}


@multi_asset(specs=[AssetSpec(t, partitions_def=days) for t in tables], can_subset=True,
             backfill_policy=BackfillPolicy.single_run(),
             check_specs=[AssetCheckSpec(n, asset=t, partitions_def=days) for t, n in checks])
def no_op(context):
    for t in tables:
        for key in context.partition_keys:
            context.add_asset_metadata({{f"figure_{{i}}": i for i in range(25)}}, asset_key=t, partition_key=key)
        yield MaterializeResult(asset_key=t)
    for t, n in checks:
        for key in context.partition_keys:
            yield AssetCheckEvaluation(asset_key=AssetKey(t), check_name=n, passed=True, partition=key,
                                       metadata={{"game_date": key, "found": 0, "published": True}})


defs = Definitions(assets=[no_op], executor=in_process_executor)
"""


@dataclass
class Bench:
    folder: Path
    days: int
    per_day: int
    database: Path
    lock_path: Path
    home: Path
    predictions: int

    @property
    def dates(self) -> list[dt.date]:
        return [START + dt.timedelta(days=i) for i in range(self.days)]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRADING_")}
        env.update({
            "GRADING_ENV": "local", "GRADING_DUCKDB_PATH": str(self.database), "GRADING_LOCK_PATH": str(self.lock_path),
            "GRADING_SEASON_START": START.isoformat(), "DAGSTER_HOME": str(self.home),
        })
        return env


def stock_instance_home(bench: Bench) -> Path:
    """A DAGSTER_HOME like the bench's, but on Dagster's stock SQLite event log storage (the
    project's dagster.yaml without its `event_log_storage:`): the figure before that storage."""
    import yaml

    home = bench.folder / f"{bench.home.name}_stock_event_log"
    home.mkdir(exist_ok=True)
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    config.pop("event_log_storage", None)
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def prepare(folder: Path, days: int, per_day: int) -> Bench:
    from grading_pipeline.sample_data import generate_season
    from grading_pipeline.warehouse import DuckDBWarehouse

    name = f"{days}x{per_day}"
    season = generate_season(START, days, predictions_per_day=per_day, seed=11, off_day_every=0)
    database = folder / f"bench_{name}.duckdb"
    warehouse = DuckDBWarehouse(database=str(database))
    warehouse.ensure_tables(include_inputs=True)
    warehouse.load_rows("nba_predictions.player_prop_predictions", season.predictions)
    warehouse.load_rows("nba_analytics.player_game_summary", season.actuals)
    home = folder / f"dagster_home_{name}"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    return Bench(folder, days, per_day, database, folder / f"locks_{name}.sqlite", home, len(season.predictions))


def bare_sql_seconds(bench: Bench) -> float:
    """The run's grading and aggregation statements, run by DuckDB alone in one transaction."""
    import duckdb

    from grading_pipeline.grading import provenance_params

    params = {"start_date": bench.dates[0], "end_date": bench.dates[-1]}
    with duckdb.connect(str(bench.database)) as con:
        started = time.perf_counter()
        con.begin()
        for table in GRADED_TABLES:
            select = DUCKDB.render(table.select_sql)
            con.execute(f"DELETE FROM {table.name} WHERE game_date BETWEEN $start_date AND $end_date", params)
            given = {**params, **provenance_params(table, run_id="bench", fences=None)}
            con.execute(f"INSERT INTO {table.name} BY NAME {select}", {k: v for k, v in given.items() if f"${k}" in select})
        con.commit()
        return time.perf_counter() - started


def timed(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def dagster_cli() -> str:
    return str(Path(sys.executable).parent / "dagster")


def launched_seconds(bench: Bench, home: Path | None = None) -> float:
    """`dagster asset materialize` of both graded tables (and their checks) for every date of the
    bench, one run, in a process of its own (on the bench's instance, or the one in `home`)."""
    dates = bench.dates
    partition = (["--partition", dates[0].isoformat()] if len(dates) == 1
                 else ["--partition-range", f"{dates[0]}...{dates[-1]}"])
    command = [dagster_cli(), "asset", "materialize", "-m", "grading_pipeline.definitions",
               "--select", "group:grading", *partition]
    env = bench.env()
    if home is not None:
        env["DAGSTER_HOME"] = str(home)
    return timed(command, env=env, cwd=bench.folder)


def event_floor_seconds(bench: Bench) -> float:
    """The no-op multi-asset of EVENT_FLOOR_ASSET over the bench's dates, launched as one run."""
    from grading_pipeline.assets.graded_tables import CHECK_SPECS

    tables = [t.name.split(".")[1] for t in GRADED_TABLES]
    names = {t.asset_key: name for t, name in zip(GRADED_TABLES, tables)}
    script = bench.folder / "event_floor_asset.py"
    script.write_text(EVENT_FLOOR_ASSET.format(
        start=START.isoformat(), tables=tables, checks=[(names[spec.asset_key], spec.name) for spec in CHECK_SPECS]))
    dates = bench.dates
    return timed([dagster_cli(), "asset", "materialize", "-f", str(script), "--select", "*",
                  "--partition-range", f"{dates[0]}...{dates[-1]}"], env=bench.env(), cwd=bench.folder)


def create_instance(home: Path) -> None:
    timed([sys.executable, "-c", "from dagster import DagsterInstance; DagsterInstance.get().dispose()"],
          env={**os.environ, "DAGSTER_HOME": str(home)})


def trivial_launched_seconds(bench: Bench) -> float:
    script = bench.folder / "trivial_asset.py"
    script.write_text(TRIVIAL_ASSET)
    return timed([dagster_cli(), "asset", "materialize", "-f", str(script), "--select", "trivial"],
                 env=bench.env(), cwd=bench.folder)


def import_dagster_seconds() -> float:
    return timed([sys.executable, "-c", "import dagster"])


def last_publication(bench: Bench) -> tuple[float, float, int]:
    """(transaction seconds, audit seconds inside it, events recorded) of the last launched run,
    from its log."""
    import re

    from dagster import DagsterInstance

    previous = os.environ.get("DAGSTER_HOME")
    os.environ["DAGSTER_HOME"] = str(bench.home)
    try:
        with DagsterInstance.get() as instance:
            run = instance.get_runs(limit=1)[0]
            records = instance.all_logs(run.run_id)
            for record in records:
                match = re.search(r"transaction ([\d.]+) s, audits inside it ([\d.]+) s", record.user_message or "")
                if match:
                    return float(match.group(1)), float(match.group(2)), len(records)
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME")
        else:
            os.environ["DAGSTER_HOME"] = previous
    raise RuntimeError("the launched run logged no publication")


def in_process_seconds(bench: Bench) -> float:
    from dagster import DagsterInstance, materialize

    from grading_pipeline.assets import grade_game_dates
    from grading_pipeline.resources.partition_lock import PartitionLockResource
    from grading_pipeline.warehouse import DuckDBWarehouse

    dates = bench.dates
    selection = ({"partition_key": dates[0].isoformat()} if len(dates) == 1 else
                 {"tags": {"dagster/asset_partition_range_start": dates[0].isoformat(),
                           "dagster/asset_partition_range_end": dates[-1].isoformat()}})
    started = time.perf_counter()
    result = materialize(
        [grade_game_dates],
        resources={"warehouse": DuckDBWarehouse(database=str(bench.database)),
                   "partition_lock": PartitionLockResource(backend="sqlite", sqlite_path=str(bench.lock_path))},
        instance=DagsterInstance.ephemeral(),
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        **selection,
    )
    assert result.success
    return time.perf_counter() - started


def median(values) -> float:
    return statistics.median(list(values))


def run_benchmark(season_days: int = 180, season_per_day: int = 1000, repeats: int = 3, ui: bool = True,
                  ui_backfill: bool = True) -> dict:
    """Every figure of the report, measured in one go (`ui`: also through `dagster dev`, the UI's
    path, with a backfill when `ui_backfill`: about a minute of Dagster's daemon ticks)."""
    # The bench grades its own 2025-26 season: the partitions (read when the code location is
    # imported, here for the in-process figures and in every launched run) must begin with it.
    os.environ["GRADING_SEASON_START"] = START.isoformat()
    figures: dict = {}
    with tempfile.TemporaryDirectory(prefix="grading-bench-") as tmp:
        folder = Path(tmp)
        one = prepare(folder, 1, season_per_day)
        season = prepare(folder, season_days, season_per_day)
        for bench in (one, season):  # not timed: a new instance creates its storage first
            create_instance(bench.home)
        rounds = []
        for _ in range(repeats):  # interleaved, so that a noisy moment hits every figure alike
            rounds.append({
                "import_dagster": import_dagster_seconds(),
                "trivial_launched": trivial_launched_seconds(one),
                "one_bare_sql": bare_sql_seconds(one),
                "one_launched": launched_seconds(one),
                "one_publication": last_publication(one),
                "one_in_process": in_process_seconds(one),
            })
        figures.update({k: median(r[k] for r in rounds) for k in rounds[0] if k != "one_publication"})
        figures["one_transaction"] = median(r["one_publication"][0] for r in rounds)
        figures["one_audits"] = median(r["one_publication"][1] for r in rounds)
        if ui:
            from grading_pipeline.bench_ui import ui_figures

            figures.update(ui_figures(one.env(), one.folder, START.isoformat(), backfill=ui_backfill))
        season_rounds = [{
            "season_bare_sql": bare_sql_seconds(season),
            "season_launched": launched_seconds(season),
            "season_publication": last_publication(season),
            "season_in_process": in_process_seconds(season),
        } for _ in range(max(1, repeats - 1))]
        figures.update({k: median(r[k] for r in season_rounds) for k in season_rounds[0] if k != "season_publication"})
        figures["season_transaction"] = median(r["season_publication"][0] for r in season_rounds)
        figures["season_audits"] = median(r["season_publication"][1] for r in season_rounds)
        figures["season_events"] = season_rounds[-1]["season_publication"][2]
        figures["season_event_floor"] = event_floor_seconds(season)
        stock = stock_instance_home(season)
        create_instance(stock)
        figures["season_launched_stock_event_log"] = launched_seconds(season, stock)
        figures.update(one_predictions=one.predictions, season_predictions=season.predictions, season_days=season_days)
    return figures


def print_benchmark(f: dict) -> None:
    floor = f["import_dagster"]
    print(f"{'what':<70}{'seconds':>9}{'ratio':>9}")
    label = 'python -c "import dagster" (the floor of any Dagster run)'
    print(f"{label:<70}{floor:>8.2f}s{1:>8.1f}x")
    print(f"{'a trivial asset launched (Dagster floor, on this instance)':<70}"
          f"{f['trivial_launched']:>8.2f}s{f['trivial_launched'] / floor:>8.1f}x")
    from grading_pipeline.assets.graded_tables import CHECK_SPECS

    label = f"ONE DATE launched: {len(GRADED_TABLES)} tables + {len(CHECK_SPECS)} checks, {f['one_predictions']:,} predictions"
    print(f"{label:<70}"
          f"{f['one_launched']:>8.2f}s{f['one_launched'] / floor:>8.1f}x   (target <= 2x import dagster)")
    # What the date adds to Dagster's own floor: the part of the 2x a project controls.
    over = f["one_launched"] - f["trivial_launched"]
    print(f"{'  over Dagster floor (the trivial asset above): what grading adds':<70}{over:>+8.2f}s"
          f"{f['one_launched'] / f['trivial_launched']:>8.2f}x  the trivial asset")
    print(f"{'  the same, in-process materialize() on an ephemeral instance':<70}{f['one_in_process']:>8.2f}s")
    print(f"{'  bare SQL of that date':<70}{f['one_bare_sql']:>8.3f}s")
    share = f["one_audits"] / f["one_transaction"] if f["one_transaction"] else 0.0
    print(f"{'  audits inside the write transaction (of the transaction)':<70}{f['one_audits']:>8.3f}s"
          f"{share:>8.1%}    (target <= 10%)")
    print(f"{'    (of the launched date)':<70}{'':>9}{f['one_audits'] / f['one_launched']:>8.1%}")
    from grading_pipeline.audits import AUDITS

    label = f"    ({len(AUDITS)} queries, each about)"
    print(f"{label:<70}{f['one_audits'] / len(AUDITS) * 1000:>7.1f}ms")
    if "ui_run_done" in f:
        print()
        from grading_pipeline.bench_ui import print_ui_figures

        print_ui_figures(f, f["one_launched"])
    bare = f["season_bare_sql"]
    print()
    print(f"{f['season_days']}-DAY SEASON, {f['season_predictions']:,} predictions, one run:")
    print(f"{'  bare SQL (grade, aggregate, score every date, one transaction)':<70}{bare:>8.3f}s{1:>8.1f}x")
    print(f"{'  launched: dagster asset materialize --partition-range':<70}{f['season_launched']:>8.2f}s"
          f"{f['season_launched'] / bare:>8.1f}x   (target <= 12x bare SQL; dbt-duckdb microbatch ~49x)")
    stock = f["season_launched_stock_event_log"]
    print(f"{'    the same on Dagster stock SQLite event log (no event_log_storage:)':<70}{stock:>8.2f}s"
          f"{stock / bare:>8.1f}x")
    floor_run = f["season_event_floor"]
    print(f"{'    Dagster floor: a no-op multi-asset recording the same events':<70}{floor_run:>8.2f}s"
          f"{floor_run / bare:>8.1f}x")
    events = f["season_events"]
    label = f"    events the run recorded ({events / f['season_days']:.0f} a date: planned, materialized, checked)"
    print(f"{label:<70}{events:>9,}   "
          f"{(floor_run - f['trivial_launched']) / events * 1000:.1f} ms each in Dagster's floor")
    print(f"{'  in-process materialize() on an ephemeral instance':<70}{f['season_in_process']:>8.2f}s"
          f"{f['season_in_process'] / bare:>8.1f}x")
    print(f"{'  the write transaction (grade, aggregate, audits, figures)':<70}{f['season_transaction']:>8.3f}s"
          f"{f['season_transaction'] / bare:>8.1f}x")
    print(f"{'  audits inside it':<70}{f['season_audits']:>8.3f}s"
          f"{f['season_audits'] / f['season_transaction']:>8.1%}")


def cleanup_figures(target_rows: int = 497_304, unique_keys: int = 306_489) -> dict:
    """The seed's table: ~306k unique keys graded, then copies up to ~497k rows (the old system's
    ratio). Times the duplicate check over the whole table and the whole cleanup job."""
    from dagster import DagsterInstance

    from grading_pipeline.checks import sweep
    from grading_pipeline.cleanup import cleanup_duplicates
    from grading_pipeline.grading import GradingPolicy, publish_dates
    from grading_pipeline.resources.partition_lock import PartitionLockResource
    from grading_pipeline.warehouse import DuckDBWarehouse

    days = 300
    with tempfile.TemporaryDirectory(prefix="grading-bench-cleanup-") as tmp:
        # The sample repeats ~13% of its source rows (re-runs, placeholders): ask for that many more.
        bench = prepare(Path(tmp), days, round(unique_keys / days * 1.15))
        warehouse = DuckDBWarehouse(database=str(bench.database))
        lock = PartitionLockResource(backend="sqlite", sqlite_path=str(bench.lock_path))
        last = START + dt.timedelta(days=days - 1)
        with warehouse.session() as session:
            publish_dates(session, START, last, policy=GradingPolicy(min_actuals_coverage=0.0))
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
            found = sweep(session, START, last)
        check_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = cleanup_duplicates.execute_in_process(
            resources={"warehouse": warehouse, "partition_lock": lock},
            instance=DagsterInstance.ephemeral(),
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        cleanup_seconds = time.perf_counter() - started
        outcome = result.output_for_node("deduplicate_prediction_accuracy")
    return {"rows": rows, "unique_keys": graded, "duplicate_keys": found.duplicate_keys, "extra_rows": found.extra_rows,
            "check_s": check_seconds, "cleanup_s": cleanup_seconds, "rows_after": outcome["rows_after"]}


def print_cleanup(f: dict) -> None:
    print(f"\nduplicate check over {f['rows']:,} rows ({f['unique_keys']:,} unique keys, {f['duplicate_keys']:,} "
          f"duplicated, {f['extra_rows']:,} extra): {f['check_s']:.3f} s")
    print(f"cleanup job (report, backup, deduplicate, validate, swap + re-aggregate + audits in one transaction): "
          f"{f['cleanup_s']:.2f} s -> {f['rows_after']:,} rows")


def lock_latencies(n: int = 200) -> list[dict]:
    """Uncontended acquire/release latency on the embedded backend and, when FIRESTORE_EMULATOR_HOST
    names one (`make bench` starts it), on the Firestore emulator."""
    from grading_pipeline.locks import FirestoreLockStore, SQLiteLockStore
    from grading_pipeline.locks.bench import bench_lock

    figures = []
    with tempfile.TemporaryDirectory(prefix="grading-bench-locks-") as tmp:
        backend = SQLiteLockStore(Path(tmp) / "locks.sqlite")
        figures.append(bench_lock(backend, n))
        backend.close()
    if not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        print("(Firestore lock not measured: no FIRESTORE_EMULATOR_HOST; `make bench` starts an emulator)")
        return figures
    backend = FirestoreLockStore(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "grading-bench"))
    figures.append({**bench_lock(backend, n), "backend": "firestore (emulator)"})
    backend.close()
    return figures


def print_locks(figures: list[dict], date_seconds: float) -> None:
    print(f"\n{'lock backend':<24}{'acquire p50/p95':>18}{'release p50/p95':>18}{'hold cycle p50':>16}{'share of a date':>17}")
    for f in figures:
        share = f["hold_cycle"]["p50_ms"] * len(GRADED_TABLES) / 1000 / date_seconds  # one lock per table
        print(f"{f['backend']:<24}{f['acquire']['p50_ms']:>8.2f} / {f['acquire']['p95_ms']:<6.2f}ms"
              f"{f['release']['p50_ms']:>8.2f} / {f['release']['p95_ms']:<6.2f}ms"
              f"{f['hold_cycle']['p50_ms']:>13.2f} ms{share:>16.1%}")
    print(f"share of a date: {len(GRADED_TABLES)} lock hold cycles (one per table) over one launched date's run.")


def observation_figures(per_days: tuple[int, ...] = (1_000, 100_000), days: int = 14) -> list[dict]:
    """The inputs' observation (both fingerprints over `days` game dates) next to one date's grading
    (in-process publish of the last date), best of 3 each, at each volume."""
    from grading_pipeline.grading import GradingPolicy, publish_dates
    from grading_pipeline.observations import input_fingerprints
    from grading_pipeline.tables import INPUT_TABLES
    from grading_pipeline.warehouse import DuckDBWarehouse

    figures = []
    for per_day in per_days:
        with tempfile.TemporaryDirectory(prefix="grading-bench-observe-") as tmp:
            bench = prepare(Path(tmp), days, per_day)
            warehouse = DuckDBWarehouse(database=str(bench.database))
            first, last = bench.dates[0], bench.dates[-1]
            # A large random sample has a few predictions past the believable maximum: allow them here.
            policy = GradingPolicy(min_actuals_coverage=0.0, max_points=1000.0)
            with warehouse.session() as session:
                publish_dates(session, first, last, policy=policy)

                def observe() -> None:
                    for table in INPUT_TABLES:
                        input_fingerprints(session, table, first, last)

                def grade_one_date() -> None:
                    publish_dates(session, last, last, policy=policy)

                observe_s = min(_timed(observe) for _ in range(3))
                grade_s = min(_timed(grade_one_date) for _ in range(3))
        figures.append({"per_day": per_day, "days": days, "predictions": bench.predictions,
                        "observe_s": observe_s, "grade_s": grade_s})
    return figures


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def print_observations(figures: list[dict]) -> None:
    print(f"\n{'observation of the inputs':<34}{'observe 14 dates':>18}{'grade one date':>16}{'share':>8}  (target < 10%)")
    for f in figures:
        print(f"{f['per_day']:>9,} predictions/day x {f['days']:<8}{f['observe_s']:>15.3f} s{f['grade_s']:>14.3f} s"
              f"{f['observe_s'] / f['grade_s']:>8.1%}")

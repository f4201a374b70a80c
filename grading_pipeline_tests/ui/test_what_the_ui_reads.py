"""What the Dagster UI shows after a range backfill and a failed re-grade, read through the
webserver's GraphQL API (what the UI reads): a real `dagster-webserver` on the code location, a
persistent instance, runs launched with `dagster asset materialize` (the path a UI backfill, a
schedule tick and the CLI take).

* every partition check has one result per date of a single-run range backfill, and counts as
  passed on the asset graph (executionForLatestMaterialization);
* each date's materialization carries that date's own figures (what the Partitions plots draw);
* a blocking check failing on the new rows of one date shows FAILED on that date's partition only,
  while that date keeps the materialization (and rows) of the backfill;
* both assets declare their engine as their kind.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from grading_pipeline_tests.support.dagster_webserver import start_webserver

pytestmark = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[2]
FIRST, LAST = dt.date(2026, 11, 20), dt.date(2026, 11, 26)
BAD_DAY = dt.date(2026, 11, 24)

CHECKS = """query($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) {
  kinds
  assetChecksOrError { ... on AssetChecks { checks { name
    executionForLatestMaterialization { status }
    partitionStatuses { ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } } } } } } }"""
MATERIALIZATIONS = """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {
  assetMaterializations(limit: 100) { partition runId
    metadataEntries { label ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue } } } } } }"""
PARTITION_CHECKS = {"no_duplicate_business_keys", "graded_rows_match_source", "values_are_sane", "actuals_coverage",
                    "rows_under_latest_fence", "graded_by_deadline"}


def materialize(env: dict, cwd: Path, *partition: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "grading_pipeline.definitions",
         "--select", "group:grading", *partition],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A range backfill of 7 dates, then a re-grade of one date whose new rows break a rule (a
    recommendation no system makes): the blocking check values_are_sane fails before COMMIT."""
    folder = tmp_path_factory.mktemp("ui")
    home = folder / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home), "GRADING_ENV": "local", "GRADING_SEASON_START": FIRST.isoformat(),
           "GRADING_DUCKDB_PATH": str(folder / "warehouse.duckdb"), "GRADING_LOCK_PATH": str(folder / "locks.sqlite"),
           "PYTHONPATH": str(ROOT)}
    days = (LAST - FIRST).days + 1
    loaded = subprocess.run([str(Path(sys.executable).parent / "grading-pipeline"), "sample-data", "--days", str(days),
                             "--per-day", "200"], cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    backfill = materialize(env, folder, "--partition-range", f"{FIRST}...{LAST}")
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    with duckdb.connect(str(folder / "warehouse.duckdb")) as con:
        graded = dict(con.execute("SELECT game_date, COUNT(*) FROM nba_predictions.prediction_accuracy GROUP BY 1").fetchall())
        con.execute("UPDATE nba_predictions.player_prop_predictions SET recommendation = 'BUY' "
                    "WHERE game_date = ? AND recommendation = 'OVER'", [BAD_DAY])
    regrade = materialize(env, folder, "--partition", BAD_DAY.isoformat())
    assert regrade.returncode != 0 and "blocking check values_are_sane failed" in regrade.stderr
    server = start_webserver(env, folder)
    yield server, graded, folder
    server.stop()


def checks_of(server, name: str) -> dict[str, dict]:
    (node,) = server.graphql(CHECKS, {"path": ["nba_predictions", name]})["assetNodes"]
    return node["kinds"], {c["name"]: c for c in node["assetChecksOrError"]["checks"]}


def test_each_date_of_the_backfill_has_its_own_check_results_and_the_failed_date_only_fails(deployment):
    server, _, _ = deployment
    kinds, checks = checks_of(server, "prediction_accuracy")
    assert kinds == ["duckdb"]
    for name in PARTITION_CHECKS:
        ranges = [(r["startKey"], r["endKey"], r["status"]) for r in checks[name]["partitionStatuses"]["ranges"]]
        if name == "values_are_sane":
            before, after = BAD_DAY - dt.timedelta(days=1), BAD_DAY + dt.timedelta(days=1)
            assert ranges == [(str(FIRST), str(before), "SUCCEEDED"), (str(BAD_DAY), str(BAD_DAY), "FAILED"),
                              (str(after), str(LAST), "SUCCEEDED")]
            assert checks[name]["executionForLatestMaterialization"]["status"] == "FAILED"
        elif name in ("no_duplicate_business_keys", "actuals_coverage", "rows_under_latest_fence", "graded_by_deadline"):
            assert ranges == [(str(FIRST), str(LAST), "SUCCEEDED")], name
            assert checks[name]["executionForLatestMaterialization"]["status"] == "SUCCEEDED", name
    kinds, performance = checks_of(server, "system_daily_performance")
    assert kinds == ["duckdb"]
    for name in ("one_row_per_system_and_date", "counts_agree_with_prediction_accuracy"):
        assert [(r["startKey"], r["endKey"], r["status"]) for r in performance[name]["partitionStatuses"]["ranges"]] == \
               [(str(FIRST), str(LAST), "SUCCEEDED")]
        assert performance[name]["executionForLatestMaterialization"]["status"] == "SUCCEEDED"


def test_each_dates_materialization_holds_that_dates_figures(deployment):
    server, graded, _ = deployment
    answer = server.graphql(MATERIALIZATIONS, {"path": ["nba_predictions", "prediction_accuracy"]})
    events = answer["assetOrError"]["assetMaterializations"]
    by_date = {}
    for event in events:  # newest first: keep each date's latest
        by_date.setdefault(event["partition"], event)
    assert sorted(by_date) == [str(FIRST + dt.timedelta(days=i)) for i in range((LAST - FIRST).days + 1)]
    assert len({e["runId"] for e in by_date.values()}) == 1  # the failed re-grade materialized nothing
    for day, event in by_date.items():
        figures = {m["label"]: m.get("intValue", m.get("floatValue")) for m in event["metadataEntries"]}
        assert figures["rows_graded"] == graded.get(dt.date.fromisoformat(day), 0), day
        assert "range_rows_graded" not in figures and "seconds" not in figures
    plotted = [e for e in by_date.values() if e["partition"] in {str(d) for d in graded}]
    maes = {next(m["floatValue"] for m in e["metadataEntries"] if m["label"] == "mae") for e in plotted}
    assert len(maes) == len(plotted) > 3  # one point per date, not one repeated range value


def test_each_dates_scorecard_plots_every_systems_30_day_figures_against_break_even(deployment):
    """The Plots of system_scorecard (Partitions mode) draw, per system, the 30-day win rate, its
    lower bound and ROI, one point per date, beside the break-even line: each date's figures are
    that date's rows of the table."""
    server, graded, folder = deployment
    answer = server.graphql(MATERIALIZATIONS, {"path": ["nba_predictions", "system_scorecard"]})
    by_date = {}
    for event in answer["assetOrError"]["assetMaterializations"]:
        by_date.setdefault(event["partition"], event)
    assert sorted(by_date) == [str(FIRST + dt.timedelta(days=i)) for i in range((LAST - FIRST).days + 1)]
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT game_date, system_id, win_rate, win_rate_lower, roi FROM nba_predictions.system_scorecard "
                           "WHERE window_days = 30 AND decided_picks > 0").fetchall()
    assert rows
    lowers_per_date = {}
    for game_date, system, win_rate, lower, roi in rows:
        figures = {m["label"]: m.get("floatValue", m.get("intValue")) for m in by_date[str(game_date)]["metadataEntries"]}
        assert figures["break_even_win_rate"] == pytest.approx(0.5238)
        assert figures[f"{system}__win_rate_30d"] == pytest.approx(float(win_rate), abs=1e-4)
        assert figures[f"{system}__win_rate_lower_30d"] == pytest.approx(float(lower), abs=1e-4)
        assert figures[f"{system}__roi_30d"] == pytest.approx(float(roi), abs=1e-4)
        lowers_per_date.setdefault(system, set()).add(figures[f"{system}__win_rate_lower_30d"])
    assert all(len(values) > 3 for values in lowers_per_date.values())  # a moving line, not one repeated value

"""`make torture` runs outside the suite (minutes of real processes); one scenario of it runs here,
so that the harness itself stays right: its comparison with a clean grading once counted the
provenance column graded_by_run (a run id) as a difference, and every scenario failed unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.processes


def test_a_range_backfill_racing_single_date_runs_violates_nothing():
    done = subprocess.run([sys.executable, "-m", "grading_pipeline_tests.torture", "--quick", "--only", "5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "VERDICT: PASS" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]

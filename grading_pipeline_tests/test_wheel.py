"""A wheel install (`pip install .`, not editable) runs: the SQL texts ship inside the package.

The wheel is built offline from the checkout, installed without dependencies into a clean virtual
environment (the dependencies come from the project's .venv through a path entry, so no network
is needed), and a sample date is graded from a folder outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.processes


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def test_the_wheel_carries_the_sql_and_grades_a_date_from_a_clean_venv(tmp_path):
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(wheels), str(ROOT)], cwd=tmp_path)
    (wheel,) = wheels.glob("grading_pipeline-*.whl")

    venv = tmp_path / "clean"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = Path(run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    # The dependencies, not the project: a plain path entry (the .pth files of the project's
    # .venv, among them its editable install of the checkout, are not processed from there).
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)])

    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DAGSTER_HOME")}
    env.update({"GRADING_DUCKDB_PATH": str(work / "w.duckdb"), "GRADING_LOCK_PATH": str(work / "l.sqlite"),
                "GRADING_SEASON_START": "2025-11-01", "GRADING_SQL_CACHE_DIR": str(work / "sql-cache")})
    where = run([str(python), "-c", "import grading_pipeline, grading_pipeline.sql_catalog as c; "
                 "print(grading_pipeline.__file__); print(c.sql_root())"], cwd=work, env=env).stdout.split()
    assert all(str(site) in line for line in where), where  # the installed copy, SQL included
    done = run([str(venv / "bin" / "grading-pipeline"), "demo", "--days", "2", "--per-day", "100"], cwd=work, env=env)
    assert "SUCCESS" in done.stdout and "duplicate business keys: 0" in done.stdout
    assert "2025-11-01" in done.stdout and "2025-11-02" in done.stdout

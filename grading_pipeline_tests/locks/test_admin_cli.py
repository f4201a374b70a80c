"""The one operator command line, `grading-pipeline locks`, on this environment's store (SQLite)."""

from __future__ import annotations

import json

from grading_pipeline.cli import main
from grading_pipeline.locks import PartitionLock, SQLiteLockStore


def test_list_and_force_release_from_the_command_line(tmp_path, monkeypatch, capsys):
    path = str(tmp_path / "locks.sqlite")
    monkeypatch.setenv("GRADING_LOCK_PATH", path)
    lock = PartitionLock(SQLiteLockStore(path), lease_seconds=30.0)
    (lease,) = lock.acquire("grading", "2025-01-20", "op-cli")
    try:
        assert main(["locks", "list", "--json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["status"] == "held" and row["holder_id"] == lease.holder_id
        assert row["operation_id"] == "op-cli" and row["fencing_token"] == lease.fencing_token
        assert main(["locks", "release", "grading", "2025-01-20"]) == 0
        assert lease.holder_id in capsys.readouterr().out
        assert main(["locks", "list"]) == 0
        assert "released" in capsys.readouterr().out
    finally:
        assert lock.release([lease]) == [False]  # it was force-released: nothing of ours to release


def test_an_unknown_lock_type_is_refused(tmp_path, monkeypatch, capsys):
    """A typo used to report "nobody held it; nothing changed"."""
    monkeypatch.setenv("GRADING_LOCK_PATH", str(tmp_path / "locks.sqlite"))
    assert main(["locks", "release", "gradng", "2025-01-20"]) == 2
    err = capsys.readouterr().err
    assert "unknown lock type 'gradng'" in err and "grading" in err and "daily_performance" in err
    assert main(["locks", "list", "--lock-type", "gradng"]) == 2

"""The operator command line over the admin functions (SQLite store)."""

from __future__ import annotations

import json

from grading_pipeline.locks import PartitionLock, SQLiteLockBackend
from grading_pipeline.locks.admin import main


def test_list_and_force_release_from_the_command_line(tmp_path, capsys):
    path = str(tmp_path / "locks.sqlite")
    lock = PartitionLock(SQLiteLockBackend(path), lease_seconds=30.0)
    lease = lock.acquire("grading", "2025-01-20", "op-cli")
    try:
        assert main(["--backend", "sqlite", "--sqlite-path", path, "list", "--json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["status"] == "held" and row["holder_id"] == lease.holder_id
        assert row["operation_id"] == "op-cli" and row["fencing_token"] == lease.fencing_token
        assert main(["--backend", "sqlite", "--sqlite-path", path, "force-release", "grading", "2025-01-20"]) == 0
        assert lease.holder_id in capsys.readouterr().out
        assert main(["--backend", "sqlite", "--sqlite-path", path, "list"]) == 0
        assert capsys.readouterr().out.startswith("released")
    finally:
        assert lock.release(lease) is False  # it was force-released: nothing of ours to release

"""PartitionLockResource: the Dagster face of the lock, with its two explicit escape hatches."""

from __future__ import annotations

import logging
import socket

import dagster as dg
import pytest

from grading_pipeline.locks import LockBackendUnavailableError, LockTimeoutError
from grading_pipeline.resources.partition_lock import PartitionLockResource

DATE = "2025-01-20"


@pytest.fixture
def closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def sqlite_resource(tmp_path, **kwargs) -> PartitionLockResource:
    settings = dict(backend="sqlite", sqlite_path=str(tmp_path / "locks.sqlite"),
                    poll_interval_seconds=0.05, lease_seconds=5.0, max_wait_seconds=5.0)
    settings.update(kwargs)
    return PartitionLockResource(**settings)


def test_hold_yields_a_lease_and_times_out_naming_the_holder(tmp_path):
    first, second = sqlite_resource(tmp_path), sqlite_resource(tmp_path, max_wait_seconds=0.2)
    with first.hold("grading", DATE, "op-1", run_id="run-1", step="grade") as lease:
        assert lease.locked and lease.fencing_token > 0 and lease.unlocked_reason is None
        assert lease.holder_id.startswith("run-1:grade:")
        with pytest.raises(LockTimeoutError, match=lease.holder_id):
            with second.hold("grading", DATE, "op-2"):
                pytest.fail("must not get the lock")
    with second.hold("grading", DATE, "op-2") as after:
        assert after.fencing_token == lease.fencing_token + 1


def test_disabled_yields_unlocked_and_warns(tmp_path, caplog):
    resource = sqlite_resource(tmp_path, enabled=False)
    caplog.set_level(logging.WARNING)
    with resource.hold("grading", DATE, "op-1", run_id="run-1") as lease:
        assert lease.locked is False and lease.fencing_token is None
        assert "GRADING_USE_LOCK" in lease.unlocked_reason
        lease.assert_held()  # nothing to check, must not raise
    assert not (tmp_path / "locks.sqlite").exists()
    assert any(r.levelno == logging.WARNING and "DISABLED" in r.getMessage() for r in caplog.records)


def test_unreachable_backend_raises_by_default(monkeypatch, closed_port):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port}")
    resource = PartitionLockResource(backend="firestore", firestore_project="nowhere",
                                     firestore_timeout_seconds=1.0)
    with pytest.raises(LockBackendUnavailableError):
        with resource.hold("grading", DATE, "op-1"):
            pytest.fail("must not run unlocked")


def test_unreachable_backend_proceeds_unlocked_only_when_configured(monkeypatch, closed_port, caplog):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port}")
    resource = PartitionLockResource(backend="firestore", firestore_project="nowhere",
                                     firestore_timeout_seconds=1.0, proceed_when_unavailable=True)
    caplog.set_level(logging.ERROR)
    ran = False
    with resource.hold("grading", DATE, "op-1") as lease:
        ran = True
        assert lease.locked is False and lease.fencing_token is None
        assert "unavailable" in lease.unlocked_reason and "Firestore" in lease.unlocked_reason
    assert ran
    assert any(r.levelno == logging.ERROR and "WITHOUT a lock" in r.getMessage() for r in caplog.records)


def test_unknown_backend_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="sqlite"):
        with sqlite_resource(tmp_path, backend="redis").hold("grading", DATE, "op"):
            pass


@pytest.mark.firestore
def test_firestore_resource_on_the_emulator(firestore_emulator_clean):
    resource = PartitionLockResource(backend="firestore", firestore_project=firestore_emulator_clean.project,
                                     poll_interval_seconds=0.05, lease_seconds=5.0)
    client = firestore_emulator_clean.client()
    with resource.hold("grading", DATE, "op-fs") as lease:
        doc = client.collection("grading_locks").document("grading_2025-01-20").get()
        assert doc.exists and doc.get("holder_id") == lease.holder_id
        assert doc.get("fencing_token") == lease.fencing_token
    assert client.collection("grading_locks").document("grading_2025-01-20").get().get("holder_id") is None


def test_resource_inside_a_dagster_asset(tmp_path):
    seen = {}

    @dg.asset
    def locked_asset(context, partition_lock: PartitionLockResource) -> None:
        run_id = context.run.run_id
        with partition_lock.hold("grading", DATE, f"op-{run_id}", run_id=run_id, step="locked_asset") as lease:
            lease.assert_held()
            seen["token"], seen["holder"] = lease.fencing_token, lease.holder_id

    result = dg.materialize([locked_asset], resources={"partition_lock": sqlite_resource(tmp_path)},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert seen["holder"].startswith(f"{result.run_id}:locked_asset:") and seen["token"] > 0

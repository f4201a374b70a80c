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
    with first.hold("grading", DATE, "op-1", run_id="run-1", step="grade") as (lease,):
        assert lease.locked and lease.fencing_token > 0 and lease.unlocked_reason is None
        assert lease.holder_id.startswith("run-1:grade:")
        with pytest.raises(LockTimeoutError, match=lease.holder_id):
            with second.hold("grading", DATE, "op-2"):
                pytest.fail("must not get the lock")
    with second.hold("grading", DATE, "op-2") as (after,):
        assert after.fencing_token > lease.fencing_token


def test_disabled_yields_unlocked_and_warns(tmp_path, caplog):
    resource = sqlite_resource(tmp_path, enabled=False)
    caplog.set_level(logging.WARNING)
    with resource.hold("grading", DATE, "op-1", run_id="run-1") as (lease,):
        assert lease.locked is False and lease.fencing_token is None
        assert "GRADING_USE_LOCK" in lease.unlocked_reason
        lease.assert_held()  # nothing to check, must not raise
    assert not (tmp_path / "locks.sqlite").exists()
    assert any(r.levelno == logging.WARNING and "DISABLED" in r.getMessage() for r in caplog.records)


def test_unreachable_backend_raises_by_default(monkeypatch, closed_port):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port}")
    resource = PartitionLockResource(backend="firestore", firestore_project="nowhere",
                                     firestore_timeout_seconds=0.5, max_wait_seconds=1.0)
    with pytest.raises(LockBackendUnavailableError):
        with resource.hold("grading", DATE, "op-1"):
            pytest.fail("must not run unlocked")


def test_unreachable_backend_proceeds_unlocked_only_when_configured(monkeypatch, closed_port, caplog):
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", f"127.0.0.1:{closed_port}")
    resource = PartitionLockResource(backend="firestore", firestore_project="nowhere",
                                     firestore_timeout_seconds=0.5, max_wait_seconds=1.0,
                                     proceed_when_unavailable=True)
    caplog.set_level(logging.ERROR)
    ran = False
    with resource.hold("grading", DATE, "op-1") as (lease,):
        ran = True
        assert lease.locked is False and lease.fencing_token is None
        assert "unavailable" in lease.unlocked_reason and "Firestore" in lease.unlocked_reason
    assert ran
    assert any(r.levelno == logging.ERROR and "WITHOUT locks" in r.getMessage() for r in caplog.records)


def test_unknown_backend_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="sqlite"):
        with sqlite_resource(tmp_path, backend="redis").hold("grading", DATE, "op"):
            pass


@pytest.mark.firestore
def test_firestore_resource_on_the_emulator(firestore_emulator_clean):
    resource = PartitionLockResource(backend="firestore", firestore_project=firestore_emulator_clean.project,
                                     poll_interval_seconds=0.05, lease_seconds=5.0)
    client = firestore_emulator_clean.client()
    with resource.hold("grading", DATE, "op-fs") as (lease,):
        doc = client.collection("grading_locks").document("grading_2025-01-20").get()
        assert doc.exists and doc.get("holder_id") == lease.holder_id
        assert doc.get("fencing_token") == lease.fencing_token
    assert client.collection("grading_locks").document("grading_2025-01-20").get().get("holder_id") is None


def test_resource_inside_a_dagster_asset(tmp_path):
    seen = {}

    @dg.asset
    def locked_asset(context, partition_lock: PartitionLockResource) -> None:
        run_id = context.run.run_id
        with partition_lock.hold("grading", DATE, f"op-{run_id}", run_id=run_id, step="locked_asset") as (lease,):
            lease.assert_held()
            seen["token"], seen["holder"] = lease.fencing_token, lease.holder_id

    result = dg.materialize([locked_asset], resources={"partition_lock": sqlite_resource(tmp_path)},
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert seen["holder"].startswith(f"{result.run_id}:locked_asset:") and seen["token"] > 0


def test_dates_are_held_all_or_nothing_through_the_resource(tmp_path):
    dates = ["2025-10-21", "2025-10-22", "2025-10-23"]
    first, second = sqlite_resource(tmp_path), sqlite_resource(tmp_path, max_wait_seconds=0.2)
    with first.hold("grading", dates, lambda d: f"op-{d}", run_id="run-1", step="grade") as leases:
        assert [l.game_date for l in leases] == dates and [l.operation_id for l in leases] == [f"op-{d}" for d in dates]
        with pytest.raises(LockTimeoutError, match=leases[0].holder_id):
            with second.hold("grading", dates[1:], "op-2"):
                pytest.fail("must not get the locks")
    with second.hold("grading", dates[1], "op-2") as (after,):
        assert after.fencing_token > leases[1].fencing_token


# -- run config: a field given keeps the environment's values for the others ----------------------

ENVIRONMENT = {
    "GRADING_LOCK_BACKEND": "firestore", "GRADING_LOCK_PATH": "/elsewhere/locks.sqlite",
    "GRADING_FIRESTORE_PROJECT": "prod-project", "GRADING_FIRESTORE_DATABASE": "locks-db",
    "GRADING_USE_LOCK": "false", "GRADING_LOCK_PROCEED_WHEN_UNAVAILABLE": "true",
    "GRADING_LOCK_LEASE_SECONDS": "42", "GRADING_LOCK_MAX_WAIT_SECONDS": "17", "GRADING_LOCK_POLL_SECONDS": "0.5",
}
FROM_ENVIRONMENT = {
    "backend": "firestore", "sqlite_path": "/elsewhere/locks.sqlite", "firestore_project": "prod-project",
    "firestore_database": "locks-db", "enabled": False, "proceed_when_unavailable": True,
    "lease_seconds": 42.0, "max_wait_seconds": 17.0, "poll_interval_seconds": 0.5,
}
GIVEN = {
    "backend": "sqlite", "sqlite_path": "/given/locks.sqlite", "firestore_project": "given-project",
    "firestore_database": "given-db", "enabled": True, "proceed_when_unavailable": False,
    "lease_seconds": 30.0, "max_wait_seconds": 5.0, "poll_interval_seconds": 0.05,
}


@pytest.mark.parametrize("field", sorted(GIVEN))
def test_a_partial_run_config_keeps_the_environment_for_every_other_field(field, monkeypatch):
    """Giving one field in run config (e.g. only lease_seconds) used to reset every other one to
    its class default: on GRADING_LOCK_BACKEND=firestore the run locked a local SQLite file."""
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    seen = {}

    @dg.asset
    def reads_the_lock(partition_lock: PartitionLockResource) -> None:
        seen.update(partition_lock.effective())

    from grading_pipeline.resources.by_environment import partition_lock_resource

    result = dg.materialize(
        [reads_the_lock], resources={"partition_lock": partition_lock_resource()},
        run_config={"resources": {"partition_lock": {"config": {field: GIVEN[field]}}}},
        instance=dg.DagsterInstance.ephemeral())
    assert result.success
    assert seen == {**FROM_ENVIRONMENT, field: GIVEN[field]}


def test_lock_timings_come_from_the_environment(monkeypatch, tmp_path):
    for name, value in {"GRADING_LOCK_LEASE_SECONDS": "9", "GRADING_LOCK_MAX_WAIT_SECONDS": "4",
                        "GRADING_LOCK_POLL_SECONDS": "0.25", "GRADING_LOCK_PATH": str(tmp_path / "l.sqlite"),
                        "GRADING_LOCK_BACKEND": "sqlite"}.items():
        monkeypatch.setenv(name, value)
    lock = PartitionLockResource().get_lock()
    assert (lock.lease_seconds, lock.max_wait_seconds, lock.poll_interval_seconds) == (9.0, 4.0, 0.25)
    monkeypatch.setenv("GRADING_LOCK_LEASE_SECONDS", "soon")
    with pytest.raises(ValueError, match="GRADING_LOCK_LEASE_SECONDS must be a number of seconds"):
        PartitionLockResource().get_lock()

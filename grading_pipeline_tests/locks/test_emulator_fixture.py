"""The emulator fixture's own rules: skip without gcloud, except in CI where that is a failure."""

from __future__ import annotations

import pytest

from grading_pipeline_tests.support import firestore_emulator as support


def test_missing_gcloud_skips_locally(monkeypatch):
    monkeypatch.setattr(support, "gcloud_path", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="gcloud"):
        support.require_gcloud()


def test_missing_gcloud_fails_in_ci(monkeypatch):
    monkeypatch.setattr(support, "gcloud_path", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        support.require_gcloud()


@pytest.mark.firestore
def test_emulator_is_up_and_resets(firestore_emulator_clean):
    emulator = firestore_emulator_clean
    assert emulator.alive()
    client = emulator.client()
    client.collection("grading_locks").document("x").set({"a": 1})
    emulator.reset()
    assert not client.collection("grading_locks").document("x").get().exists

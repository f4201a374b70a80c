"""Mutual exclusion between real OS processes: 8 spawned processes x 50 read-sleep-write
increments of a plain file. Under the lock the count ends at exactly 400 and the fencing tokens
order the increments; without it, updates are lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from grading_pipeline_tests.locks import _workers

PROCESSES = 8
ROUNDS = 50
RACE_WINDOW_SECONDS = 0.002

pytestmark = pytest.mark.processes


def run_workers(tmp_path: Path, backend_kind: str | None, backend_arg: str | None) -> tuple[int, list, float]:
    counter = tmp_path / "counter.txt"
    counter.write_text("0")
    out = tmp_path / "results"
    out.mkdir()
    records, elapsed = _workers.run_together(
        _workers.increment_worker,
        lambda i, barrier: (i, str(counter), str(out), ROUNDS, backend_kind, backend_arg, barrier, RACE_WINDOW_SECONDS),
        PROCESSES, out,
    )
    return int(counter.read_text()), records, elapsed


@pytest.mark.parametrize("backend_kind", ["sqlite", pytest.param("firestore", marks=pytest.mark.firestore)])
def test_lock_gives_mutual_exclusion_across_processes(backend_kind, tmp_path, request):
    if backend_kind == "firestore":
        backend_arg = request.getfixturevalue("firestore_emulator_clean").project
    else:
        backend_arg = str(tmp_path / "locks.sqlite")
    final, records, elapsed = run_workers(tmp_path, backend_kind, backend_arg)
    assert final == PROCESSES * ROUNDS, f"lost updates under the lock: {final}"
    assert len(records) == PROCESSES * ROUNDS
    # Each acquisition got its own token, and token order is the order of the increments.
    tokens = [token for token, _ in records]
    assert len(set(tokens)) == len(tokens)
    by_token = [value for _, value in sorted(records)]
    assert by_token == list(range(PROCESSES * ROUNDS))
    print(f"{backend_kind}: {PROCESSES}x{ROUNDS} locked increments in {elapsed:.1f} s")


def test_without_the_lock_updates_are_lost(tmp_path):
    final, records, elapsed = run_workers(tmp_path, None, None)
    assert len(records) == PROCESSES * ROUNDS
    assert final < PROCESSES * ROUNDS, "the unlocked race did not lose updates: the test proves nothing"
    print(f"unlocked: {final} of {PROCESSES * ROUNDS} increments survived ({elapsed:.1f} s)")

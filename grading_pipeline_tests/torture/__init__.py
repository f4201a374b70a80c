"""`make torture`: real OS processes against one DuckDB warehouse, every figure measured in the run.

    python -m grading_pipeline_tests.torture [--quick] [--only 1,3] [--keep] ...

Scenarios (each prints rows of one table; the exit status is 1 when an invariant is violated):

1. N concurrent launched materializations (`dagster asset materialize`) of one date x R rounds:
   lock on (SQLite), lock on (Firestore, when FIRESTORE_EMULATOR_HOST names an emulator), lock off.
2. K SIGKILLs at random points of a launched materialization (short lease): the date is the
   previous or the new version, whole; the next run succeeds; the takeover time of the lease.
3. A stale holder (SIGSTOP past its lease) before it opens the warehouse, and inside its write just
   before COMMIT, while a successor takes the lock; then SIGCONT: what the stale one does.
4. The lock backend made unusable mid-run (fail closed), and unreachable from the start with
   GRADING_LOCK_PROCEED_WHEN_UNAVAILABLE=true (proceeds, metadata lock_held=false).
5. A single-run range backfill racing single-date runs inside its range.

"Equal to a clean grading": every (table, date) of the three graded tables has the same rows,
run-specific columns (graded_at, computed_at) left out, as the same inputs graded once in a
separate warehouse file by `grading_pipeline.grading.publish_dates`.

Not gating: the lock-off rows (informational), and in 3b a stale COMMIT that runs before its
successor's write and is then wholly replaced (shown in the table; --strict-stale gates it too).

Everything lives in one temp folder (printed; removed at the end unless --keep or a violation was
found). Runs get their lock and warehouse timings from the environment (GRADING_LOCK_LEASE_SECONDS
& co), as a deployment does. Modules: common (workspace, processes, warehouse figures), child (an
in-process materialize() with pause points), proxy (a loopback TCP proxy to cut a backend off), s1..s5 (the scenarios), report (the
table).
"""

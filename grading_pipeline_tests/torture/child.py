"""A holder with precise pause points: one in-process `materialize([grade_game_dates])` of a date on
an ephemeral instance, with the resources of the environment (the same GRADING_* variables as a
launched run), that pauses at a chosen point:

* ``before-open``: the locks are held, the warehouse not yet opened (``DuckDBWarehouse.session``);
* ``before-commit``: inside the write's transaction, rows replaced and audited, just before COMMIT
  (``DuckDBSession._commit``, the seam the crash tests use).

``--how stop``: the process SIGSTOPs itself (every thread, lease renewal included, stops until
SIGCONT). ``--how gofile``: it waits, threads running, until the file ``--go-file`` exists.

    python -m grading_pipeline_tests.torture.child DATE --pause before-open --how stop --report R.json

Prints ``TORTURE paused <point>`` / ``TORTURE resumed`` / ``TORTURE committed`` lines on stdout and
writes a JSON report: success, the error (class and message), whether its COMMIT ran, metadata.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

DAGSTER_WRAPPERS = ("Dagster", "Check")


def _emit(state: dict, event: str, **figures) -> None:
    state.setdefault("events", []).append({"event": event, "time": time.time(), **figures})
    print(f"TORTURE {event} {json.dumps(figures)}", flush=True)


def _root_error(error) -> tuple[str, str]:
    """The innermost error of a SerializableErrorInfo chain that is not a Dagster wrapper."""
    chosen = error
    node = error
    while node is not None:
        if not node.cls_name.startswith(DAGSTER_WRAPPERS):
            chosen = node
            break
        node = node.cause
    message = first_line(chosen.message)
    prefix = re.match(r"^[\w.]*" + re.escape(chosen.cls_name) + r":\s*", message)
    return chosen.cls_name, message[prefix.end():] if prefix else message


def first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("date", help="YYYY-MM-DD")
    parser.add_argument("--pause", choices=("none", "before-open", "before-commit"), default="none")
    parser.add_argument("--how", choices=("stop", "gofile"), default="stop")
    parser.add_argument("--go-file", default="")
    parser.add_argument("--report", required=True)
    args = parser.parse_args()

    state: dict = {"pid": os.getpid(), "committed": False, "success": False, "paused": None}

    def write_report() -> None:
        Path(args.report).write_text(json.dumps(state, default=str))

    try:
        from dagster import DagsterInstance, materialize

        from grading_pipeline.assets import grade_game_dates
        from grading_pipeline.warehouse.duckdb_warehouse import DuckDBSession, DuckDBWarehouse
        from grading_pipeline.resources.by_environment import build_resources

        def pause(point: str) -> None:
            if args.pause != point or state["paused"]:
                return
            state["paused"] = point
            _emit(state, "paused", point=point)
            if args.how == "stop":
                os.kill(os.getpid(), signal.SIGSTOP)
            else:
                go = Path(args.go_file)
                while not go.exists():
                    time.sleep(0.05)
            _emit(state, "resumed", point=point)

        project_session = DuckDBWarehouse.session

        def session(self, *args, **kwargs):
            if not kwargs.get("read_only"):  # the write's session, not a read-only look
                pause("before-open")
            return project_session(self, *args, **kwargs)

        project_commit = DuckDBSession._commit

        def commit(self):
            pause("before-commit")
            project_commit(self)
            state["committed"] = True
            _emit(state, "committed")

        DuckDBWarehouse.session = session
        DuckDBSession._commit = commit

        resources = build_resources()  # every setting from the environment, as a launched run
        result = materialize(
            [grade_game_dates], partition_key=args.date, resources=resources,
            instance=DagsterInstance.ephemeral(), raise_on_error=False,
        )
        state["success"] = result.success
        for event in result.get_step_failure_events():
            state["error_class"], state["error_message"] = _root_error(event.event_specific_data.error)
            break
        for m in result.get_asset_materialization_events():
            key = m.asset_key.path[-1]
            state.setdefault("metadata", {})[key] = {k: v.value for k, v in m.materialization.metadata.items()}
    except BaseException as error:  # reported: the parent tells the table
        state["error_class"], state["error_message"] = type(error).__name__, first_line(str(error))
    write_report()
    _emit(state, "done", success=state["success"])
    return 0 if state["success"] else 1


if __name__ == "__main__":
    sys.exit(main())

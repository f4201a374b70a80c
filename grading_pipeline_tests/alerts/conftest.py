"""Fixtures of the alerting tests: a fake Slack API on 127.0.0.1 driven by the real slack_sdk
client, the SlackAlerts resource pointed at it, and a sensor tick that behaves like the daemon's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from dagster import DagsterInstance, build_sensor_context, instance_for_test

from grading_pipeline.alerts import SlackAlerts
from grading_pipeline_tests.support.slack_server import SlackServer, start_slack_server, unused_port

WEBSERVER = "http://dagster.example:3000"
TOKEN = "xoxb-test-token"


@pytest.fixture(params=["in_memory", "sqlite_run_sharded"])
def instance(request) -> Iterator[DagsterInstance]:
    """Both kinds of event log storage: in memory (``DagsterInstance.ephemeral()``) and the default
    SQLite storage of ``dagster dev`` / DAGSTER_HOME, sharded by run, where cross-run queries of
    non-asset events by storage id are refused."""
    if request.param == "in_memory":
        yield DagsterInstance.ephemeral()
    else:
        with instance_for_test() as sqlite_instance:
            assert sqlite_instance.event_log_storage.is_run_sharded
            yield sqlite_instance


@pytest.fixture
def slack_server() -> Iterator[SlackServer]:
    server = start_slack_server()
    try:
        yield server
    finally:
        server.stop()


def slack_resource(base_url: str, **overrides) -> SlackAlerts:
    config = dict(token=TOKEN, channel="#grading-alerts-test", base_url=base_url, webserver_base_url=WEBSERVER,
                  max_attempts=3, backoff=0.05, timeout=5)
    config.update(overrides)
    return SlackAlerts(**config)


@pytest.fixture
def slack_alerts(slack_server) -> SlackAlerts:
    """Configured (token) and pointed at the fake server; fast backoff."""
    return slack_resource(slack_server.base_url)


@pytest.fixture
def slack_down() -> SlackAlerts:
    """Configured, but nothing listens on its port: every connection is refused."""
    return slack_resource(f"http://127.0.0.1:{unused_port()}/api/")


@dataclass
class Tick:
    cursor: str | None
    message: str | None


#: The code location and repository a sensor runs in under the daemon (``tick(..., code_location=True)``).
CODE_LOCATION = "grading_pipeline"
REPOSITORY = "__repository__"


def tick(sensor_def, instance: DagsterInstance, slack: SlackAlerts, cursor: str | None,
         code_location: bool = False) -> Tick:
    """One evaluation as the daemon runs it: ``evaluate_tick`` (what the code server calls). If it
    raises, the daemon records a FAILED tick and keeps the previous cursor: so do callers.
    ``code_location``: the context names the sensor's code location and repository, as the daemon's
    does (``build_sensor_context`` leaves them None)."""
    context = build_sensor_context(instance=instance, resources={"slack_alerts": slack}, cursor=cursor,
                                   repository_name=REPOSITORY if code_location else None)
    if code_location:
        from dagster._core.remote_origin import RegisteredCodeLocationOrigin

        context._code_location_origin = RegisteredCodeLocationOrigin(CODE_LOCATION)  # no public builder takes it
    data = sensor_def.evaluate_tick(context)
    assert not data.run_requests
    return Tick(cursor=data.cursor, message=data.skip_message)

"""SlackAlerts with the real slack_sdk client against a local fake Slack API."""

from __future__ import annotations

import logging
import time

import pytest
from dagster import EnvVar

from grading_pipeline.alerts import NOT_CONFIGURED_MARKER, Alert, SlackAlerts, SlackDeliveryError, slack_alerts_from_env
from grading_pipeline_tests.alerts.conftest import TOKEN, slack_resource

ALERT = Alert(
    title="Grading Duplicate Alert",
    summary="3 keys <have> duplicates & more",
    fields=(("Date", "2026-01-17"), ("Duplicate business keys", "3")),
    sections=(("Action", "1. `grading-pipeline cleanup --dry-run`"),),
    links=(("View run in Dagster", "http://dagster.example:3000/runs/abc"),),
)


def test_posts_text_and_blocks_with_the_token_to_the_channel(slack_server, slack_alerts):
    delivery = slack_alerts.send(ALERT)

    assert delivery.delivered and delivery.configured and delivery.ts
    [request] = slack_server.requests
    assert request.method == "chat.postMessage" and request.authorization == f"Bearer {TOKEN}"
    [message] = slack_server.messages
    assert message["channel"] == "#grading-alerts-test"
    assert message["text"].startswith("Grading Duplicate Alert\n")
    assert "3 keys &lt;have&gt; duplicates &amp; more" in message["text"]  # Slack mrkdwn escaping
    blocks = message["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Grading Duplicate Alert", "emoji": True}}
    assert {"type": "mrkdwn", "text": "*Duplicate business keys*\n3"} in blocks[2]["fields"]
    assert "<http://dagster.example:3000/runs/abc|View run in Dagster>" in blocks[-1]["elements"][0]["text"]


def test_not_configured_logs_the_alert_with_a_marker_and_does_not_crash(caplog):
    caplog.set_level(logging.WARNING, logger="grading_pipeline.alerts")
    delivery = SlackAlerts().send(ALERT)

    assert delivery.delivered and not delivery.configured
    [record] = [r for r in caplog.records if NOT_CONFIGURED_MARKER in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "Grading Duplicate Alert" in record.getMessage() and "Duplicate business keys: 3" in record.getMessage()


def test_server_errors_are_retried_with_backoff(slack_server, slack_alerts):
    slack_server.fail_next(1, status=500)
    slack_server.fail_next(1, status=502)

    slack_alerts.send(ALERT)

    assert [r.status for r in slack_server.requests] == [500, 502, 200]
    assert len(slack_server.messages) == 1


def test_rate_limit_waits_for_retry_after(slack_server, slack_alerts):
    slack_server.rate_limit_next(1, retry_after=1)

    slack_alerts.send(ALERT)

    first, second = slack_server.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0  # Retry-After: 1 honoured (not our 0.05 s backoff)
    assert len(slack_server.messages) == 1


def test_a_retry_after_longer_than_allowed_fails_now_instead_of_blocking_the_sensor(slack_server):
    slack_server.rate_limit_next(1, retry_after=30)
    slack = slack_resource(slack_server.base_url, max_retry_after=5)

    started = time.monotonic()
    with pytest.raises(SlackDeliveryError, match="HTTP 429"):
        slack.send(ALERT)
    assert time.monotonic() - started < 5
    assert len(slack_server.requests) == 1


def test_still_failing_after_max_attempts_raises_and_logs_the_alert(slack_server, slack_alerts, caplog):
    slack_server.fail_next(5, status=503)
    caplog.set_level(logging.ERROR, logger="grading_pipeline.alerts")

    with pytest.raises(SlackDeliveryError, match=r"NOT delivered .*HTTP 503.* after 3 attempt"):
        slack_alerts.send(ALERT)

    assert len(slack_server.requests) == 3 and not slack_server.messages
    assert any("Grading Duplicate Alert" in r.getMessage() and "NOT delivered" in r.getMessage() for r in caplog.records)


def test_connection_refused_is_retried_then_raised(slack_down):
    with pytest.raises(SlackDeliveryError, match="could not reach Slack after 3 attempt"):
        slack_down.send(ALERT)


def test_a_refusal_by_slack_is_not_retried_and_raised(slack_server, slack_alerts):
    slack_server.error_next(1, "channel_not_found")

    with pytest.raises(SlackDeliveryError, match="channel_not_found"):
        slack_alerts.send(ALERT)
    assert len(slack_server.requests) == 1


def test_from_env_reads_the_environment_at_call_time(monkeypatch):
    for name in ("SLACK_BOT_TOKEN", "GRADING_SLACK_CHANNEL", "GRADING_WEBSERVER_URL", "GRADING_SLACK_API_URL"):
        monkeypatch.delenv(name, raising=False)
    local = slack_alerts_from_env()
    assert local.token is None and not local.configured
    assert (local.channel, local.webserver_base_url, local.base_url) == ("#grading-alerts", "http://127.0.0.1:3000", None)

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")
    monkeypatch.setenv("GRADING_SLACK_CHANNEL", "#ops")
    monkeypatch.setenv("GRADING_WEBSERVER_URL", "https://dagster.internal")
    configured = slack_alerts_from_env()
    # The token stays an EnvVar: Dagster's UI shows the variable's name, never the secret.
    assert isinstance(configured.token, EnvVar) and configured.token.env_var_name == "SLACK_BOT_TOKEN"
    assert configured.configured and configured._token() == "xoxb-from-env"
    assert (configured.channel, configured.webserver_base_url) == ("#ops", "https://dagster.internal")


def test_from_env_token_is_resolved_for_a_sensor(monkeypatch, slack_server):
    from dagster import DagsterInstance, SkipReason, build_sensor_context, sensor

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-resolved")
    monkeypatch.setenv("GRADING_SLACK_API_URL", slack_server.base_url)

    @sensor()
    def probe(context, slack_alerts: SlackAlerts):
        slack_alerts.send(ALERT, log=context.log)
        return SkipReason("sent")

    context = build_sensor_context(instance=DagsterInstance.ephemeral(), resources={"slack_alerts": slack_alerts_from_env()})
    probe.evaluate_tick(context)
    [request] = slack_server.requests
    assert request.authorization == "Bearer xoxb-resolved"

"""`SlackAlerts`: the resource that delivers an :class:`~grading_pipeline.alerts.messages.Alert`.

* No token (the local default): the alert is written to the log at WARNING level, prefixed
  ``[SLACK NOT CONFIGURED]``, and counts as delivered. Nothing crashes.
* With a token: ``slack_sdk.WebClient.chat_postMessage`` (text + blocks). HTTP 429 is retried after
  the ``Retry-After`` the server asked for (when it is at most ``max_retry_after`` seconds), 5xx and
  connection errors/timeouts with exponential backoff -- all through slack_sdk's retry handlers,
  at most ``max_attempts`` attempts in all. Still failing, or refused by Slack (``ok: false``, e.g.
  ``channel_not_found``, ``invalid_auth``): the alert's full text is logged at ERROR level and
  :class:`SlackDeliveryError` is raised. Never swallowed.

The worst case of one ``send`` stays well under Dagster's 60 s sensor-evaluation timeout with the
defaults (3 attempts x 10 s timeout + 1 s + 2 s backoff).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from grading_pipeline.alerts.messages import Alert

if TYPE_CHECKING:
    from slack_sdk import WebClient

NOT_CONFIGURED_MARKER = "[SLACK NOT CONFIGURED]"
DEFAULT_CHANNEL = "#grading-alerts"
DEFAULT_WEBSERVER_URL = "http://127.0.0.1:3000"

#: Environment variables read by :func:`slack_alerts_from_env`.
ENV_VARS = {
    "SLACK_BOT_TOKEN": "Slack bot token (xoxb-...); unset: alerts are logged with [SLACK NOT CONFIGURED]",
    "GRADING_SLACK_CHANNEL": f"channel for alerts (default {DEFAULT_CHANNEL})",
    "GRADING_WEBSERVER_URL": f"Dagster webserver URL used in run links (default {DEFAULT_WEBSERVER_URL})",
    "GRADING_SLACK_API_URL": "Slack API base URL override, e.g. a local fake: http://127.0.0.1:PORT/api/",
}

_log = logging.getLogger("grading_pipeline.alerts")


class SlackDeliveryError(RuntimeError):
    """An alert could not be delivered to Slack (after the retries)."""


@dataclass(frozen=True)
class Delivery:
    delivered: bool
    configured: bool  # False: logged with the NOT CONFIGURED marker instead of posted
    channel: str
    ts: str | None = None  # Slack message timestamp (its id)


class SlackAlerts(ConfigurableResource):
    """Posts grading alerts to a Slack channel (or logs them when no token is configured)."""

    token: str | None = Field(default=None, description="Slack bot token; None: log alerts instead of posting them.")
    channel: str = Field(default=DEFAULT_CHANNEL, description="Channel name or id to post to.")
    base_url: str | None = Field(default=None, description="Slack Web API base URL (tests: http://127.0.0.1:PORT/api/).")
    webserver_base_url: str = Field(default=DEFAULT_WEBSERVER_URL, description="Dagster webserver URL for run links.")
    max_attempts: int = Field(default=3, ge=1, le=10, description="Attempts per alert, retries included.")
    backoff: float = Field(default=1.0, ge=0, description="Seconds before the first retry; doubled each retry.")
    max_retry_after: float = Field(default=20.0, ge=0, description="Longest Retry-After (s) waited for within one send.")
    timeout: int = Field(default=10, ge=1, description="HTTP timeout per attempt, seconds.")

    @property
    def configured(self) -> bool:
        return bool(self._token())

    def _token(self) -> str | None:
        token = self.token
        if isinstance(token, EnvVar):  # used outside Dagster's resource resolution
            token = token.get_value()
        return (token or "").strip() or None

    def client(self) -> "WebClient":
        # slack_sdk is imported when an alert is sent, not when the code location loads.
        from slack_sdk import WebClient

        from grading_pipeline.alerts.slack_retries import retry_handlers

        kwargs: dict[str, Any] = {
            "token": self._token(),
            "timeout": self.timeout,
            "retry_handlers": retry_handlers(self.max_attempts, self.backoff, self.max_retry_after),
        }
        if self.base_url:
            kwargs["base_url"] = self.base_url if self.base_url.endswith("/") else self.base_url + "/"
        return WebClient(**kwargs)

    def send(self, alert: Alert, log: Any = None) -> Delivery:
        """Deliver one alert; raises :class:`SlackDeliveryError` when it could not be delivered.
        ``log``: where to write (a sensor's ``context.log``); default the ``grading_pipeline.alerts``
        Python logger."""
        log = log or _log
        if not self.configured:
            log.warning(f"{NOT_CONFIGURED_MARKER} alert for {self.channel} (set SLACK_BOT_TOKEN to post it):\n{alert.plain_text()}")
            return Delivery(delivered=True, configured=False, channel=self.channel)
        try:
            response = self.client().chat_postMessage(
                channel=self.channel,
                text=alert.slack_text(),
                blocks=alert.slack_blocks(),
                unfurl_links=False,
                unfurl_media=False,
            )
        except Exception as exc:
            raise self._failed(alert, _failure_reason(exc, self.max_attempts), log) from exc
        return Delivery(delivered=True, configured=True, channel=str(response.get("channel") or self.channel),
                        ts=response.get("ts"))

    def _failed(self, alert: Alert, reason: str, log: Any) -> SlackDeliveryError:
        where = self.base_url or "https://slack.com/api/"
        message = f"Slack alert '{alert.title}' NOT delivered to {self.channel} via {where}: {reason}"
        log.error(f"{message}. The alert was:\n{alert.plain_text()}")
        return SlackDeliveryError(message)


def _failure_reason(exc: Exception, max_attempts: int) -> str:
    """What went wrong, after the client's own retries."""
    from slack_sdk.errors import SlackApiError

    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", None)
        error = exc.response.get("error") if exc.response is not None else None
        reason = f"Slack answered HTTP {status} ({error or 'no error code'})"
        if status == 429:
            reason += " - still rate limited"
        elif status and status >= 500:
            reason += f" after {max_attempts} attempt(s)"
        return reason
    # connection refused, DNS, timeout
    return f"could not reach Slack after {max_attempts} attempt(s): {type(exc).__name__}: {exc}"


def slack_alerts_from_env(environ: dict[str, str] | None = None) -> SlackAlerts:
    """The resource as configured by the environment, read now (see :data:`ENV_VARS`). The token is
    passed as ``EnvVar("SLACK_BOT_TOKEN")`` so that the Dagster UI shows the variable's name, not
    the secret; without it alerts are logged instead of posted."""
    env = os.environ if environ is None else environ
    token = EnvVar("SLACK_BOT_TOKEN") if (env.get("SLACK_BOT_TOKEN") or "").strip() else None
    if token is not None and environ is not None:
        token = environ["SLACK_BOT_TOKEN"].strip()  # an explicit mapping: use its value
    return SlackAlerts(
        token=token,
        channel=(env.get("GRADING_SLACK_CHANNEL") or "").strip() or DEFAULT_CHANNEL,
        base_url=(env.get("GRADING_SLACK_API_URL") or "").strip() or None,
        webserver_base_url=(env.get("GRADING_WEBSERVER_URL") or "").strip() or DEFAULT_WEBSERVER_URL,
    )

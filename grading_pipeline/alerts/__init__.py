"""Slack alerting: the :class:`SlackAlerts` resource and the alert messages.

The sensors that use them live in :mod:`grading_pipeline.sensors`.
"""

from grading_pipeline.alerts.messages import Alert
from grading_pipeline.alerts.slack import (
    ENV_VARS,
    NOT_CONFIGURED_MARKER,
    Delivery,
    SlackAlerts,
    SlackDeliveryError,
    slack_alerts_from_env,
)

__all__ = [
    "ENV_VARS",
    "NOT_CONFIGURED_MARKER",
    "Alert",
    "Delivery",
    "SlackAlerts",
    "SlackDeliveryError",
    "slack_alerts_from_env",
]

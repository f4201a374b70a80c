"""How the Slack client retries: slack_sdk's handlers, tuned (imported only when an alert is sent)."""

from __future__ import annotations

import random
from http.client import RemoteDisconnected
from urllib.error import URLError

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.jitter import Jitter



class _SmallJitter(Jitter):
    """Up to +10 % (slack_sdk's default RandomJitter adds up to a whole second)."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.uniform(0, 0.1))


class _AnyServerErrorRetryHandler(ServerErrorRetryHandler):
    """slack_sdk's handler retries 500 and 503 only; retry every 5xx (502/504 from proxies too)."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[override]
        return response is not None and 500 <= response.status_code < 600


class _BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Honours Retry-After (slack_sdk sleeps it), unless it is longer than ``max_retry_after``:
    then the send fails now and the alert is retried on a later sensor tick."""

    def __init__(self, max_retry_count: int, max_retry_after: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_retry_after = max_retry_after

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[override]
        if response is None or response.status_code != 429:
            return False
        for name, values in response.headers.items():
            if name.lower() == "retry-after":
                value = values[0] if isinstance(values, list) else values
                try:
                    return float(value) <= self.max_retry_after
                except (TypeError, ValueError):
                    return True
        return True


def retry_handlers(max_attempts: int, backoff: float, max_retry_after: float) -> list[RetryHandler]:
    retries = max_attempts - 1  # slack_sdk counts attempts across all handlers together
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff, jitter=_SmallJitter())
    return [
        _BoundedRateLimitRetryHandler(max_retry_count=retries, max_retry_after=max_retry_after),
        _AnyServerErrorRetryHandler(max_retry_count=retries, interval_calculator=interval),
        ConnectionErrorRetryHandler(
            max_retry_count=retries,
            interval_calculator=interval,
            error_types=[URLError, ConnectionError, RemoteDisconnected, TimeoutError],
        ),
    ]

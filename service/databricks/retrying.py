"""When and how long the client retries a failed Jobs API request (tenacity).

Kept apart from the client so the rules read in one place:
- only what `errors.is_retryable` names is retried (connect errors, timeouts, lost
  connections, rate-limit 429s, lock contention, 5xx), never by message text;
- a request Databricks may have acted on is replayed only on an endpoint where a replay
  is harmless (`Replay.SAFE`: reads, resets, cancels, and run-now/submit because they
  always carry an idempotency token); jobs/create is retried only when Databricks surely
  did not act on it (no connection, a rate limit, a lock conflict);
- a server's ``Retry-After`` is a floor, plus jitter so the workers it throttled at once
  do not come back at once; a rate limit without one waits at least a second
  (databricks-sdk's choice);
- everything stops before a sleep that would end past ``max_retry_seconds``: a Celery
  worker must not sleep for minutes, so a longer wait surfaces as the error (with
  ``retry_after``) and the caller parks the work in the database.
"""

from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_before_delay

from service.databricks.budget import RequestClass
from service.databricks.errors import (
    ConnectError,
    CouldNotAcquireLock,
    TooManyRequests,
    is_retryable,
)

__all__ = [
    "API_PREFIX",
    "RATE_LIMIT_MIN_SECONDS",
    "Endpoint",
    "Replay",
    "RequestClass",
    "call_with_retries",
    "wait_seconds",
]

logger = logging.getLogger("service.databricks.client")

API_PREFIX = "/api/2.2/"

_BACKOFF_FIRST_SECONDS = 0.5
_BACKOFF_MAX_SECONDS = 4.0
_JITTER_SECONDS = 0.5
# A rate limit without Retry-After waits this long (databricks-sdk's choice).
RATE_LIMIT_MIN_SECONDS = 1.0

# Failures after which Databricks has certainly not acted on the request.
_UNSENT_ERRORS = (ConnectError, TooManyRequests, CouldNotAcquireLock)

T = TypeVar("T")


class Replay(enum.Enum):
    """When a failed request may be sent again."""

    SAFE = "safe"  # idempotent, or made idempotent by an idempotency token
    UNSENT_ONLY = "unsent-only"  # only when Databricks surely did not act on it


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # relative to API_PREFIX, or absolute (starting with "/") for other APIs
    replay: Replay = Replay.SAFE

    @property
    def request_class(self) -> RequestClass:
        """The budget this endpoint spends from. Every Jobs API read is a GET and every
        call that changes something a POST, so the method decides; Databricks' tighter
        limit (about 20 req/s) covers run-now and the jobs calls, its loosest (about
        100 req/s) runs/get."""
        return RequestClass.READS if self.method == "GET" else RequestClass.WRITES

    @property
    def url_path(self) -> str:
        return self.path if self.path.startswith("/") else API_PREFIX + self.path


def may_retry(endpoint: Endpoint, exc: BaseException) -> bool:
    if is_retryable(exc) is None:
        return False
    return endpoint.replay is Replay.SAFE or isinstance(exc, _UNSENT_ERRORS)


def wait_seconds(retry_state: RetryCallState) -> float:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    jitter = random.uniform(0, _JITTER_SECONDS)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return float(retry_after) + jitter
    backoff = min(
        _BACKOFF_MAX_SECONDS, _BACKOFF_FIRST_SECONDS * 2 ** (retry_state.attempt_number - 1)
    )
    if isinstance(exc, TooManyRequests):
        backoff = max(backoff, RATE_LIMIT_MIN_SECONDS)
    return backoff + jitter


def _log_retry(endpoint: Endpoint, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    logger.warning(
        "retrying %s %s in %.2f s (attempt %d failed: %s)",
        endpoint.method,
        endpoint.url_path,
        state.upcoming_sleep,
        state.attempt_number,
        is_retryable(exc) if exc else "unknown",
        extra={"http_method": endpoint.method, "http_path": endpoint.url_path},
    )


def call_with_retries(
    endpoint: Endpoint,
    send_once: Callable[[], T],
    *,
    max_retry_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    retrying = Retrying(
        retry=retry_if_exception(lambda exc: may_retry(endpoint, exc)),
        wait=wait_seconds,
        stop=stop_before_delay(max_retry_seconds),
        before_sleep=lambda state: _log_retry(endpoint, state),
        reraise=True,
        sleep=sleep,
    )
    return retrying(send_once)

"""Jobs API calls counted by endpoint and status, shared by every process in Redis.

The calls happen in the workers (and in the API, for deploys), but ``/metrics`` is
served by the API: so each process adds its calls to one Redis hash (HINCRBY per
``endpoint status`` field, under the configured key prefix) and the scrape reads the
hash. Counting is best effort: a Redis error loses that count, never fails the call.
"""

from __future__ import annotations

import logging
import time

import redis

from service.databricks.retrying import Endpoint
from service.settings import Settings

log = logging.getLogger(__name__)

_SEPARATOR = " "  # between endpoint and status in a hash field; paths have no spaces
_WARN_EVERY_SECONDS = 60.0


def jobs_api_counters_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:metrics:jobs-api-requests"


class JobsApiCounters:
    """The client's ``on_exchange`` hook: one HINCRBY per HTTP exchange, retries included."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self._redis = client
        self._key = key
        self._last_warning = 0.0

    def __call__(self, endpoint: Endpoint, status: int | str) -> None:
        try:
            self._redis.hincrby(self._key, f"{endpoint.url_path}{_SEPARATOR}{status}", 1)
        except redis.RedisError as exc:
            # One line a minute at most: an outage must not flood the log per request.
            now = time.monotonic()
            if now - self._last_warning >= _WARN_EVERY_SECONDS:
                self._last_warning = now
                log.warning("Jobs API call not counted: %s", exc)


def read_jobs_api_counts(client: redis.Redis, key: str) -> dict[tuple[str, str], int]:
    """(endpoint, status) -> calls so far."""
    counts: dict[tuple[str, str], int] = {}
    for field, value in client.hgetall(key).items():
        endpoint, _, status = _text(field).rpartition(_SEPARATOR)
        if endpoint:
            counts[(endpoint, status)] = int(value)
    return counts


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

"""A per-workspace Jobs API request budget: one token bucket shared by every worker.

Databricks rate-limits per workspace, not per client, so each worker counting its own
requests would let N workers spend N budgets. The bucket lives in Redis and is updated
by one Lua script (atomic, so two workers never spend the same token), timed by Redis'
own clock (``TIME``) so workers on different hosts agree on how much has refilled.

``rate`` tokens per second refill up to ``burst``: over any window of T seconds at most
``burst + rate * T`` requests leave, whatever the number of workers.

If Redis cannot be reached the budget lets requests through: without Redis no Celery
task runs either, and a caller blocked on the budget would only add a second outage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.databricks.errors import BudgetExhausted

__all__ = [
    "BudgetExhausted",
    "RedisTokenBucket",
    "RequestBudget",
    "Unlimited",
    "budget_redis",
]

log = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV rate, burst, tokens wanted. Returns the seconds to wait before the
# tokens are there ("0" when they were taken now).
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
  at = now
end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= wanted then
  tokens = tokens - wanted
else
  wait = (wanted - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 60)
return tostring(wait)
"""


class RequestBudget(Protocol):
    def acquire(self) -> None:
        """Block until one request may be sent (raise BudgetExhausted past the max wait)."""


class Unlimited:
    def acquire(self) -> None:
        return None


def budget_redis(url: str) -> redis.Redis:
    """A Redis client for budgets: short timeouts and no reconnect retries, so an outage
    costs a request milliseconds (and it goes unmetered), not seconds of backoff."""
    return redis.Redis.from_url(
        url, socket_timeout=1.0, socket_connect_timeout=1.0, retry=Retry(NoBackoff(), 0)
    )


class RedisTokenBucket:
    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        rate: float,
        burst: int,
        max_wait_seconds: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a request budget needs rate > 0 and burst >= 1")
        self._client = client
        self._key = key
        self._rate = rate
        self._burst = burst
        self._max_wait = max_wait_seconds
        self._sleep = sleep
        self._take = client.register_script(_TAKE)

    def try_acquire(self) -> float:
        """Takes a token now and returns 0, or returns the seconds until one is due."""
        result = self._take(keys=[self._key], args=[self._rate, self._burst, 1])
        return float(result.decode() if isinstance(result, bytes) else result)

    def acquire(self) -> None:
        waited = 0.0
        while True:
            try:
                wait = self.try_acquire()
            except redis.RedisError:
                log.warning("request budget unavailable (Redis); sending unmetered")
                return
            if wait <= 0:
                return
            if waited + wait > self._max_wait:
                raise BudgetExhausted(
                    f"no Jobs API request budget within {self._max_wait:.0f} s ({self._key})"
                )
            self._sleep(wait)
            waited += wait

"""Per-workspace Jobs API request budgets: token buckets shared by every worker.

Databricks rate-limits per workspace, not per client, so each worker counting its own
requests would let N workers spend N budgets. Each bucket lives in Redis and is updated
by Lua scripts (atomic, so two workers never spend the same token), timed by Redis' own
clock (``TIME``) so workers on different hosts agree on how much has refilled.

``rate`` tokens per second refill up to ``burst``: over any window of T seconds at most
``burst + rate * T`` requests leave, whatever the number of workers.

A workspace has one bucket per `RequestClass` (`WorkspaceBudget`), because Databricks
limits reads (runs/get: about 100 req/s) far more loosely than run-now and the jobs
calls (about 20 req/s): a flood of polls must not starve submissions, nor the reverse.

A rate-limit 429 means the workspace as a whole is over its limit, so the bucket of the
class that was refused is drained (`back_off`): every worker waits out the server's
``Retry-After``, not only the one that was refused.

If Redis cannot be reached the budget lets requests through: without Redis no Celery
task runs either, and a caller blocked on the budget would only add a second outage.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from service.databricks.errors import BudgetExhausted

__all__ = [
    "BudgetExhausted",
    "RedisTokenBucket",
    "RequestBudget",
    "RequestClass",
    "Unlimited",
    "WorkspaceBudget",
    "budget_redis",
]

log = logging.getLogger(__name__)

# Shared by both scripts: refill the bucket (KEYS[1]; ARGV[1] rate, ARGV[2] burst) to now.
# A drained bucket holds negative tokens: the debt is repaid by refill before any is taken.
_REFILL = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
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
"""

# The key lives until the bucket would be full again (plus a margin): then "no key" and
# "a full bucket" mean the same.
_STORE = """
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 60)
"""

# ARGV[3] tokens wanted. Returns the seconds to wait before they are there ("0" when
# they were taken now).
_TAKE = (
    _REFILL
    + """
local wanted = tonumber(ARGV[3])
local wait = 0
if tokens >= wanted then
  tokens = tokens - wanted
else
  wait = (wanted - tokens) / rate
end
"""
    + _STORE
    + "return tostring(wait)\n"
)

# ARGV[3] seconds to pause. Empties the bucket so that the next token is due no earlier
# than that many seconds from now; pauses from several workers overlap, never add up.
_DRAIN = (
    _REFILL
    + """
local pause = tonumber(ARGV[3])
tokens = math.min(tokens, 1 - pause * rate)
"""
    + _STORE
    + "return tostring((1 - tokens) / rate)\n"
)


class RequestClass(enum.Enum):
    """Which of a workspace's budgets a Jobs API endpoint spends from."""

    READS = "reads"  # runs/get, runs/list, runs/get-output, jobs/get, jobs/list, ...
    WRITES = "writes"  # run-now, runs/submit, jobs/create, reset, delete, cancel, repair, ...


class RequestBudget(Protocol):
    def acquire(self) -> None:
        """Block until one request may be sent (raise BudgetExhausted past the max wait)."""

    def back_off(self, seconds: float) -> None:
        """Databricks rate-limited a request: send nothing more for ``seconds``."""


class Unlimited:
    def acquire(self) -> None:
        return None

    def back_off(self, seconds: float) -> None:
        return None


@dataclass(frozen=True)
class WorkspaceBudget:
    """A workspace's budgets, one per request class."""

    reads: RequestBudget
    writes: RequestBudget

    @classmethod
    def single(cls, budget: RequestBudget) -> WorkspaceBudget:
        """One budget for every class (tools and tests that meter all calls together)."""
        return cls(reads=budget, writes=budget)

    def for_class(self, request_class: RequestClass) -> RequestBudget:
        return self.reads if request_class is RequestClass.READS else self.writes


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
        self._drain = client.register_script(_DRAIN)

    @property
    def key(self) -> str:
        return self._key

    def try_acquire(self) -> float:
        """Takes a token now and returns 0, or returns the seconds until one is due."""
        return self._seconds(self._take(keys=[self._key], args=[self._rate, self._burst, 1]))

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
                    f"no Jobs API request budget within {self._max_wait:.0f} s ({self._key})",
                    retry_after=wait,
                )
            self._sleep(wait)
            waited += wait

    def back_off(self, seconds: float) -> None:
        try:
            result = self._drain(keys=[self._key], args=[self._rate, self._burst, seconds])
            due = self._seconds(result)
        except redis.RedisError:
            log.warning("request budget unavailable (Redis); cannot pause it")
            return
        log.info("request budget %s paused: next request in %.2f s", self._key, due)

    @staticmethod
    def _seconds(result: bytes | str) -> float:
        return float(result.decode() if isinstance(result, bytes) else result)

"""Per-hook rate limits: a fixed one-minute window counted in Redis, so every API
replica shares one count. A sender over its limit gets 429 and ``Retry-After`` (the
seconds until the window turns), and nothing is written for that request.

Without Redis (a test app given its own task sender) the count is kept in the process.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: int = 0


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int) -> RateDecision: ...

    def close(self) -> None: ...


def _window(now: float) -> tuple[int, int]:
    start = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
    return start, max(1, math.ceil(start + WINDOW_SECONDS - now))


class RedisRateLimiter:
    def __init__(self, url: str, prefix: str, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2)
        self._prefix = prefix
        self._clock = clock

    def hit(self, key: str, limit: int) -> RateDecision:
        start, remaining = _window(self._clock())
        name = f"{self._prefix}:hook-rate:{key}:{start}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW_SECONDS + 5)
        count, _ = pipe.execute()
        if int(count) > limit:
            return RateDecision(False, remaining)
        return RateDecision(True)

    def close(self) -> None:
        self._redis.close()


class InProcessRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def hit(self, key: str, limit: int) -> RateDecision:
        start, remaining = _window(self._clock())
        with self._lock:
            for old in [k for k in self._counts if k[1] < start]:
                del self._counts[old]
            count = self._counts.get((key, start), 0) + 1
            self._counts[(key, start)] = count
        return RateDecision(count <= limit, 0 if count <= limit else remaining)

    def close(self) -> None:
        self._counts.clear()

"""The shared request budget: a token bucket in a real Redis, spent by the client before
every HTTP exchange, the same bucket for every client (worker) of a workspace."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from service.databricks import BudgetExhausted, DatabricksClient, RedisTokenBucket
from service.databricks.budget import budget_redis
from tests.databricks.conftest import FixtureServer, Reply

RUNS_LIST = "/api/2.2/jobs/runs/list"


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_a_full_bucket_allows_its_burst_then_refills_at_its_rate(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    bucket = RedisTokenBucket(redis_client, f"{redis_prefix}:budget:a", rate=20, burst=5)
    assert [bucket.try_acquire() for _ in range(5)] == [0.0] * 5
    wait = bucket.try_acquire()
    assert 0 < wait <= 1 / 20 + 0.01
    time.sleep(0.12)  # two tokens at 20/s
    assert bucket.try_acquire() == 0.0


def test_workers_share_one_budget(redis_client: redis.Redis, redis_prefix: str) -> None:
    """Eight threads, each with its own bucket object on the same key, as eight workers
    would be: together they get the burst plus rate x time, not eight times that."""
    key = f"{redis_prefix}:budget:shared"
    granted: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        bucket = RedisTokenBucket(redis.Redis.from_url(_url(redis_client)), key, rate=50, burst=10)
        for _ in range(10):
            bucket.acquire()
            with lock:
                granted.append(time.monotonic())

    started = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    assert len(granted) == 80
    # 80 requests = 10 from the burst + 70 at 50/s: at least 1.4 s, whatever the threads.
    assert elapsed >= 1.3


def _url(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"


def test_a_budget_that_cannot_be_met_in_time_raises(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    slept: list[float] = []
    bucket = RedisTokenBucket(
        redis_client,
        f"{redis_prefix}:budget:slow",
        rate=0.1,
        burst=1,
        max_wait_seconds=5,
        sleep=slept.append,
    )
    bucket.acquire()
    with pytest.raises(BudgetExhausted):
        bucket.acquire()
    assert slept == []  # a 10 s wait is past the 5 s allowed: refused without sleeping


def test_redis_down_lets_requests_through(redis_prefix: str) -> None:
    dead = budget_redis("redis://127.0.0.1:1/0")
    bucket = RedisTokenBucket(dead, f"{redis_prefix}:budget:dead", rate=1, burst=1)
    bucket.acquire()
    bucket.acquire()


def test_the_client_spends_one_token_per_exchange(
    server: FixtureServer,
    make_client: Callable[..., DatabricksClient],
    redis_client: redis.Redis,
    redis_prefix: str,
) -> None:
    server.on("GET", RUNS_LIST, Reply(200, {"runs": []}))
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    bucket = RedisTokenBucket(
        redis_client, f"{redis_prefix}:budget:client", rate=10, burst=3, sleep=sleep
    )
    client = make_client(budget=bucket)
    for _ in range(3):
        client.list_runs(active_only=True)
    assert slept == []
    client.list_runs(active_only=True)
    assert len(slept) == 1 and 0 < slept[0] <= 0.11
    assert len(server.received("GET", RUNS_LIST)) == 4

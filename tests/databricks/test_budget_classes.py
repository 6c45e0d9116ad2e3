"""A workspace's two request budgets (reads, writes) in a real Redis: which endpoint
spends from which, how big each is by default and when overridden, and how a rate-limit
429 pauses the bucket for every worker while a capacity 429 does not."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from service.databricks import (
    BudgetExhausted,
    CapacityExceeded,
    DatabricksClient,
    RedisTokenBucket,
    RequestLimitExceeded,
)
from service.databricks import client as client_module
from service.databricks.budget import RequestClass, WorkspaceBudget
from service.databricks.profiles import BudgetSize, budget_size, workspace_profile
from service.databricks.retrying import Endpoint
from service.runs.workspaces import budget_key, workspace_budget
from service.settings import Settings
from tests.databricks.conftest import FixtureServer, Reply

MakeClient = Callable[..., DatabricksClient]

RUNS_GET = "/api/2.2/jobs/runs/get"
RUNS_CANCEL = "/api/2.2/jobs/runs/cancel"
RUN_NOW = "/api/2.2/jobs/run-now"
RATE_LIMITED = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "token bucket limit exceeded"}
AT_CAPACITY = {"error_code": "WORKSPACE_RUN_LIMIT_EXCEEDED", "message": "cannot start now"}


@pytest.fixture
def redis_client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path, **overrides)


def _buckets(
    redis_client: redis.Redis,
    prefix: str,
    *,
    burst: int = 50,
    max_wait: float = 30.0,
    rate: float = 50.0,
) -> WorkspaceBudget:
    """A workspace's buckets as another worker would build them: new objects, same keys."""

    def bucket(name: str) -> RedisTokenBucket:
        return RedisTokenBucket(
            redis_client,
            f"{prefix}:budget:w:{name}",
            rate=rate,
            burst=burst,
            max_wait_seconds=max_wait,
        )

    return WorkspaceBudget(reads=bucket("reads"), writes=bucket("writes"))


# -- which class an endpoint spends from ----------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        (client_module.RUNS_GET, RequestClass.READS),
        (client_module.RUNS_LIST, RequestClass.READS),
        (client_module.RUNS_GET_OUTPUT, RequestClass.READS),
        (client_module.JOBS_GET, RequestClass.READS),
        (client_module.JOBS_LIST, RequestClass.READS),
        (client_module.JOBS_RUN_NOW, RequestClass.WRITES),
        (client_module.RUNS_SUBMIT, RequestClass.WRITES),
        (client_module.JOBS_CREATE, RequestClass.WRITES),
        (client_module.JOBS_RESET, RequestClass.WRITES),
        (client_module.JOBS_DELETE, RequestClass.WRITES),
        (client_module.RUNS_CANCEL, RequestClass.WRITES),
        (client_module.RUNS_REPAIR, RequestClass.WRITES),
        (client_module.WORKSPACE_MKDIRS, RequestClass.WRITES),
        (client_module.WORKSPACE_IMPORT, RequestClass.WRITES),
    ],
)
def test_reads_and_writes_spend_from_their_own_class(
    endpoint: Endpoint, expected: RequestClass
) -> None:
    assert endpoint.request_class is expected


# -- sizes ------------------------------------------------------------------------------


def test_default_budgets_are_half_of_databricks_limits(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    profile = workspace_profile(settings)
    assert budget_size(settings, profile, RequestClass.READS) == BudgetSize(rate=50.0, burst=50)
    assert budget_size(settings, profile, RequestClass.WRITES) == BudgetSize(rate=10.0, burst=10)


def test_the_share_and_the_limits_are_settings(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        databricks_budget_share=0.25,
        databricks_reads_limit_per_second=200,
        databricks_writes_limit_per_second=10,
    )
    profile = workspace_profile(settings)
    assert budget_size(settings, profile, RequestClass.READS) == BudgetSize(rate=50.0, burst=50)
    assert budget_size(settings, profile, RequestClass.WRITES) == BudgetSize(rate=2.5, burst=3)


def test_the_old_rate_and_burst_settings_override_the_reads_bucket_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_DATABRICKS_REQUESTS_PER_SECOND", "8")
    monkeypatch.setenv("LOCKGATE_DATABRICKS_REQUEST_BURST", "120")
    settings = _settings(tmp_path)
    profile = workspace_profile(settings)
    assert budget_size(settings, profile, RequestClass.READS) == BudgetSize(rate=8.0, burst=120)
    assert budget_size(settings, profile, RequestClass.WRITES) == BudgetSize(rate=10.0, burst=10)
    # A rate without a burst holds one second of it.
    settings = _settings(tmp_path, databricks_request_burst=None)
    assert budget_size(settings, workspace_profile(settings), RequestClass.READS) == BudgetSize(
        rate=8.0, burst=8
    )


def test_profiles_keep_their_rate_and_may_size_writes(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        databricks_profiles={
            "old": {"host": "adb-1.example.net", "requests_per_second": 5},
            "both": {
                "host": "adb-2.example.net",
                "requests_per_second": 30,
                "request_burst": 60,
                "writes_per_second": 4,
                "write_burst": 2,
            },
            "plain": {"host": "adb-3.example.net"},
        },
    )
    old, both, plain = (workspace_profile(settings, n) for n in ("old", "both", "plain"))
    assert budget_size(settings, old, RequestClass.READS) == BudgetSize(rate=5.0, burst=5)
    assert budget_size(settings, old, RequestClass.WRITES) == BudgetSize(rate=10.0, burst=10)
    assert budget_size(settings, both, RequestClass.READS) == BudgetSize(rate=30.0, burst=60)
    assert budget_size(settings, both, RequestClass.WRITES) == BudgetSize(rate=4.0, burst=2)
    assert budget_size(settings, plain, RequestClass.READS) == BudgetSize(rate=50.0, burst=50)


def test_workers_build_one_bucket_per_workspace_and_class(
    tmp_path: Path, redis_client: redis.Redis, redis_prefix: str
) -> None:
    settings = _settings(tmp_path, queue_prefix=redis_prefix)
    budget = workspace_budget(settings, redis_client, workspace_profile(settings))
    reads, writes = budget.reads, budget.writes
    assert isinstance(reads, RedisTokenBucket) and isinstance(writes, RedisTokenBucket)
    assert reads.key == budget_key(settings, "default", RequestClass.READS)
    assert writes.key == budget_key(settings, "default", RequestClass.WRITES)
    assert reads.key != writes.key
    # The writes bucket holds 10 (half of 20 req/s, one second of it); reads are untouched.
    assert [writes.try_acquire() for _ in range(10)] == [0.0] * 10
    assert writes.try_acquire() > 0
    assert reads.try_acquire() == 0.0


# -- the client picks the bucket ----------------------------------------------------------


def test_the_client_spends_reads_and_writes_from_separate_buckets(
    server: FixtureServer,
    make_client: MakeClient,
    redis_client: redis.Redis,
    redis_prefix: str,
) -> None:
    server.on("GET", RUNS_GET, Reply(200, {"run_id": 1}))
    server.on("POST", RUNS_CANCEL, Reply(200, {}))
    # A token every ten seconds: a slow machine doesn't refill a bucket mid-test.
    budget = _buckets(redis_client, redis_prefix, burst=2, rate=0.1)
    client = make_client(budget=budget)
    for _ in range(2):
        client.get_run(1)
    # Reads are spent; writes still have their whole burst.
    assert _other_worker(redis_client, redis_prefix, "reads").try_acquire() > 0
    for _ in range(2):
        client.cancel_run(1)
    assert _other_worker(redis_client, redis_prefix, "writes").try_acquire() > 0


def _other_worker(client: redis.Redis, prefix: str, name: str) -> RedisTokenBucket:
    return RedisTokenBucket(client, f"{prefix}:budget:w:{name}", rate=0.1, burst=2)


# -- a rate-limit 429 pauses the bucket for everyone ---------------------------------------


def test_back_off_pauses_the_bucket_for_every_worker(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    mine = _buckets(redis_client, redis_prefix).reads
    theirs = _buckets(redis_client, redis_prefix).reads
    assert isinstance(mine, RedisTokenBucket) and isinstance(theirs, RedisTokenBucket)
    mine.back_off(0.4)
    wait = theirs.try_acquire()
    assert 0.3 < wait <= 0.41
    # A second 429 within the pause does not add to it.
    theirs.back_off(0.4)
    assert theirs.try_acquire() <= 0.41
    time.sleep(0.45)
    assert theirs.try_acquire() == 0.0


def test_a_pause_longer_than_the_maximum_wait_refuses_at_once(
    redis_client: redis.Redis, redis_prefix: str
) -> None:
    slept: list[float] = []
    bucket = RedisTokenBucket(
        redis_client,
        f"{redis_prefix}:budget:long",
        rate=50,
        burst=50,
        max_wait_seconds=5,
        sleep=slept.append,
    )
    bucket.back_off(120)
    with pytest.raises(BudgetExhausted) as info:
        bucket.acquire()
    assert slept == []
    # The caller parks the work until the pause ends, not for a guess.
    assert info.value.retry_after is not None and 119 < info.value.retry_after <= 120
    # The paused bucket outlives its pause (an expired key would read as a full bucket).
    assert redis_client.ttl(f"{redis_prefix}:budget:long") >= 120


@pytest.mark.parametrize(("headers", "pause"), [({"Retry-After": "0.6"}, 0.6), ({}, 1.0)])
def test_a_rate_limit_429_pauses_the_class_bucket_of_every_worker(
    server: FixtureServer,
    make_client: MakeClient,
    redis_client: redis.Redis,
    redis_prefix: str,
    headers: dict[str, str],
    pause: float,
) -> None:
    server.on("GET", RUNS_GET, Reply(429, RATE_LIMITED, headers))
    with pytest.raises(RequestLimitExceeded):
        make_client(budget=_buckets(redis_client, redis_prefix)).get_run(1)
    other = _buckets(redis_client, redis_prefix)
    assert isinstance(other.reads, RedisTokenBucket)
    assert isinstance(other.writes, RedisTokenBucket)
    assert pause - 0.15 < other.reads.try_acquire() <= pause + 0.01
    assert other.writes.try_acquire() == 0.0  # run-now is not held up by polls' limit


def test_a_rate_limited_call_is_retried_after_the_pause(
    server: FixtureServer,
    make_client: MakeClient,
    redis_client: redis.Redis,
    redis_prefix: str,
) -> None:
    server.on(
        "POST",
        RUN_NOW,
        Reply(429, RATE_LIMITED, {"Retry-After": "0.3"}),
        Reply(200, {"run_id": 42, "number_in_job": 1}),
    )
    client = make_client(budget=_buckets(redis_client, redis_prefix), max_retry_seconds=5)
    started = time.monotonic()
    assert client.run_now(1, idempotency_token="t-1") == 42
    assert time.monotonic() - started >= 0.3
    assert len(server.received("POST", RUN_NOW)) == 2


def test_a_capacity_429_leaves_the_budget_alone(
    server: FixtureServer,
    make_client: MakeClient,
    redis_client: redis.Redis,
    redis_prefix: str,
) -> None:
    server.on("POST", RUN_NOW, Reply(429, AT_CAPACITY))
    client = make_client(budget=_buckets(redis_client, redis_prefix), max_retry_seconds=5)
    with pytest.raises(CapacityExceeded):
        client.run_now(1, idempotency_token="t-1")
    assert len(server.received("POST", RUN_NOW)) == 1  # not retried in-process
    other = _buckets(redis_client, redis_prefix)
    assert isinstance(other.writes, RedisTokenBucket)
    assert other.writes.try_acquire() == 0.0

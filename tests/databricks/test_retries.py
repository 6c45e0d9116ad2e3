"""In-process retries: transient failures retried briefly, Retry-After honoured and bounded.

These use real time against the fixture server; the waits are kept to about a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx
import pytest

from service import databricks
from service.databricks import DatabricksClient
from tests.databricks.conftest import FixtureServer, Reply, recorded

MakeClient = Callable[..., DatabricksClient]

RUNS_GET = "/api/2.2/jobs/runs/get"
RUN = recorded("runs_get_failed_multitask.json")


def unavailable() -> Reply:
    return Reply(503, {"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try later"})


def rate_limited(retry_after: str | None = None) -> Reply:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(429, {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "slow"}, headers)


def test_503_is_retried(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", RUNS_GET, unavailable(), Reply(body=RUN))
    run = make_client(max_retry_seconds=10).get_run(RUN["run_id"])
    assert run.run_id == RUN["run_id"]
    assert len(server.received("GET", RUNS_GET)) == 2


def test_retry_after_is_honoured(server: FixtureServer, make_client: MakeClient) -> None:
    # On a 503 our own first backoff is under a second, so waiting 2 s proves the hint won.
    hinted = Reply(503, {"error_code": "TEMPORARILY_UNAVAILABLE"}, {"Retry-After": "2"})
    server.on("GET", RUNS_GET, hinted, Reply(body=RUN))
    started = time.monotonic()
    make_client(max_retry_seconds=5).get_run(RUN["run_id"])
    elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 3.5
    assert len(server.received("GET", RUNS_GET)) == 2


def test_a_retry_after_beyond_the_budget_is_raised_at_once(
    server: FixtureServer, make_client: MakeClient
) -> None:
    # Longer waits are the caller's job: it gets the hint and parks the work.
    server.on("GET", RUNS_GET, rate_limited("30"), Reply(body=RUN))
    started = time.monotonic()
    with pytest.raises(databricks.RequestLimitExceeded) as info:
        make_client(max_retry_seconds=2).get_run(1)
    assert time.monotonic() - started < 1.0
    assert info.value.retry_after == 30.0
    assert len(server.received("GET", RUNS_GET)) == 1


def test_retries_stop_within_the_budget(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", RUNS_GET, unavailable())
    started = time.monotonic()
    with pytest.raises(databricks.TemporarilyUnavailable):
        make_client(max_retry_seconds=1.5).get_run(1)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 0.5  # the budget, plus the last request's own time
    assert len(server.received("GET", RUNS_GET)) >= 2


def test_no_retry_budget_means_one_attempt(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", RUNS_GET, unavailable())
    with pytest.raises(databricks.TemporarilyUnavailable):
        make_client(max_retry_seconds=0).get_run(1)
    assert len(server.received("GET", RUNS_GET)) == 1


def test_400_is_not_retried(server: FixtureServer, make_client: MakeClient) -> None:
    server.on(
        "GET",
        RUNS_GET,
        Reply(400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "run_id is negative"}),
    )
    with pytest.raises(databricks.InvalidParameterValue):
        make_client(max_retry_seconds=10).get_run(1)
    assert len(server.received("GET", RUNS_GET)) == 1


def test_capacity_429_is_not_retried(server: FixtureServer, make_client: MakeClient) -> None:
    path = "/api/2.2/jobs/runs/submit"
    server.on(
        "POST",
        path,
        Reply(429, {"error_code": "WORKSPACE_RUN_LIMIT_EXCEEDED", "message": "at capacity"}),
    )
    with pytest.raises(databricks.CapacityExceeded):
        make_client(max_retry_seconds=10).submit_run({"tasks": []}, idempotency_token="t-1")
    assert len(server.received("POST", path)) == 1


def test_lock_contention_is_retried(server: FixtureServer, make_client: MakeClient) -> None:
    path = "/api/2.2/jobs/reset"
    locked = Reply(400, {"error_code": "COULD_NOT_ACQUIRE_LOCK", "message": "locked"})
    server.on("POST", path, locked, Reply(body={}))
    make_client(max_retry_seconds=10).reset_job(1, {"name": "x"})
    assert len(server.received("POST", path)) == 2


def test_submit_is_replayed_with_the_same_idempotency_token(
    server: FixtureServer, make_client: MakeClient
) -> None:
    path = "/api/2.2/jobs/runs/submit"
    server.on("POST", path, unavailable(), Reply(drop=True), Reply(body={"run_id": 77}))
    run_id = make_client(max_retry_seconds=10).submit_run(
        {"run_name": "r", "tasks": []}, idempotency_token="run-9-attempt-1"
    )
    assert run_id == 77
    tokens = [r.json["idempotency_token"] for r in server.received("POST", path)]
    assert tokens == ["run-9-attempt-1"] * 3


def test_run_now_is_replayed_after_a_timeout(
    server: FixtureServer, make_client: MakeClient
) -> None:
    path = "/api/2.2/jobs/run-now"
    server.on("POST", path, Reply(body={"run_id": 5}, delay=1.5), Reply(body={"run_id": 5}))
    run_id = make_client(max_retry_seconds=10, timeout=0.5).run_now(
        3, idempotency_token="run-3-attempt-1"
    )
    assert run_id == 5
    assert len(server.received("POST", path)) == 2


@pytest.mark.parametrize(
    "first",
    [
        unavailable(),
        Reply(500, {"error_code": "INTERNAL_ERROR", "message": "oops"}),
        Reply(drop=True),
        Reply(body={"job_id": 1}, delay=0.5),
    ],
    ids=["503", "500", "dropped", "timeout"],
)
def test_create_job_is_not_replayed_when_it_may_have_been_processed(
    server: FixtureServer, make_client: MakeClient, first: Reply
) -> None:
    # jobs/create has no idempotency token: replaying it could make a second job.
    path = "/api/2.2/jobs/create"
    server.on("POST", path, first, Reply(body={"job_id": 2}))
    with pytest.raises(databricks.DatabricksError):
        make_client(max_retry_seconds=10, timeout=0.2).create_job({"name": "x"})
    assert len(server.received("POST", path)) == 1


def test_create_job_is_retried_after_a_rate_limit(
    server: FixtureServer, make_client: MakeClient
) -> None:
    # A 429 means Databricks refused the request before acting on it.
    path = "/api/2.2/jobs/create"
    server.on("POST", path, rate_limited("0"), Reply(body={"job_id": 2}))
    assert make_client(max_retry_seconds=10).create_job({"name": "x"}) == 2
    assert len(server.received("POST", path)) == 2


def test_create_job_is_retried_when_it_could_not_connect(
    make_client: MakeClient, closed_port_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A refused connection means nothing was sent; counted through the retry log lines.
    with (
        caplog.at_level(logging.WARNING, logger="service.databricks"),
        pytest.raises(databricks.ConnectError),
    ):
        make_client(url=closed_port_url, max_retry_seconds=1.2).create_job({"name": "x"})
    retries = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert retries
    assert all("cannot connect" in line and "jobs/create" in line for line in retries)


def test_each_retry_is_logged_with_its_reason(
    server: FixtureServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server.on("GET", RUNS_GET, unavailable(), Reply(body=RUN))
    with caplog.at_level(logging.INFO, logger="service.databricks"):
        make_client(max_retry_seconds=10).get_run(RUN["run_id"])
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("GET /api/2.2/jobs/runs/get -> 503")
    assert messages[1].startswith("retrying GET /api/2.2/jobs/runs/get in ")
    assert messages[1].endswith("(attempt 1 failed: server error 503)")
    assert messages[2].startswith("GET /api/2.2/jobs/runs/get -> 200")
    assert len(messages) == 3


def test_create_job_is_retried_after_a_connect_timeout(make_client: MakeClient) -> None:
    # MockTransport: a connect timeout needs an address that swallows SYNs, which a test
    # machine cannot provide reliably; everything else here uses the real server.
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            raise httpx.ConnectTimeout("timed out connecting", request=request)
        return httpx.Response(200, json={"job_id": 4})

    client = make_client(transport=httpx.MockTransport(handler), max_retry_seconds=10)
    assert client.create_job({"name": "x"}) == 4
    assert len(attempts) == 2


def test_a_connect_timeout_is_both_a_connect_error_and_a_timeout(make_client: MakeClient) -> None:
    # MockTransport, for the same reason as above.
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out connecting", request=request)

    client = make_client(transport=httpx.MockTransport(handler))
    with pytest.raises(databricks.ConnectTimeout) as info:
        client.get_run(1)
    assert isinstance(info.value, databricks.ConnectError)
    assert isinstance(info.value, databricks.TimeoutError)
    assert databricks.is_retryable(info.value) == "cannot connect"

"""Error mapping (error_code, then status, then fallback), transport errors, is_retryable,
and the two 429s told apart (rate limit vs capacity)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from service import databricks
from service.databricks import (
    ApiError,
    DatabricksClient,
    DatabricksError,
    TransportError,
    is_retryable,
)
from service.databricks.errors import is_rate_limit, parse_retry_after
from tests.databricks.conftest import TEST_TOKEN, FixtureServer, Reply

MakeClient = Callable[..., DatabricksClient]

RUNS_GET = "/api/2.2/jobs/runs/get"


def body(code: str | None, message: str = "something went wrong") -> dict[str, Any]:
    return {"error_code": code, "message": message} if code else {"message": message}


# (status, error_code, expected class, is_retryable reason or None)
ERROR_TABLE: list[tuple[int, str | None, type[ApiError], str | None]] = [
    # error_code decides first ...
    (400, "INVALID_PARAMETER_VALUE", databricks.InvalidParameterValue, None),
    (400, "INVALID_STATE", databricks.InvalidState, None),
    (
        400,
        "COULD_NOT_ACQUIRE_LOCK",
        databricks.CouldNotAcquireLock,
        "job lock held by another request",
    ),
    (400, "MALFORMED_REQUEST", databricks.BadRequest, None),
    (404, "RESOURCE_DOES_NOT_EXIST", databricks.ResourceDoesNotExist, None),
    (400, "RESOURCE_DOES_NOT_EXIST", databricks.ResourceDoesNotExist, None),
    (409, "ALREADY_EXISTS", databricks.AlreadyExists, None),
    (409, "RESOURCE_ALREADY_EXISTS", databricks.AlreadyExists, None),
    (409, "ABORTED", databricks.Aborted, None),
    (429, "REQUEST_LIMIT_EXCEEDED", databricks.RequestLimitExceeded, "rate limited"),
    (429, "RESOURCE_EXHAUSTED", databricks.ResourceExhausted, "rate limited"),
    (429, "WORKSPACE_RUN_LIMIT_EXCEEDED", databricks.CapacityExceeded, None),
    (500, "INTERNAL_ERROR", databricks.InternalError, "server error 500"),
    (503, "TEMPORARILY_UNAVAILABLE", databricks.TemporarilyUnavailable, "server error 503"),
    (401, "UNAUTHENTICATED", databricks.Unauthenticated, None),
    (403, "PERMISSION_DENIED", databricks.PermissionDenied, None),
    # ... a 429 with any other code is the capacity 429, without a code a rate limit ...
    (429, "TOO_MANY_CONCURRENT_RUNS", databricks.CapacityExceeded, None),
    (429, None, databricks.TooManyRequests, "rate limited"),
    # ... then the status ...
    (400, None, databricks.BadRequest, None),
    (401, None, databricks.Unauthenticated, None),
    (403, "SOME_NEW_CODE", databricks.PermissionDenied, None),
    (404, None, databricks.NotFound, None),
    (409, None, databricks.ResourceConflict, None),
    (500, None, databricks.InternalError, "server error 500"),
    (503, None, databricks.TemporarilyUnavailable, "server error 503"),
    (504, None, databricks.DeadlineExceeded, "server error 504"),
    # ... then the fallback.
    (502, None, databricks.ServerError, "server error 502"),
    (418, None, ApiError, None),
]


@pytest.mark.parametrize(("status", "code", "expected", "reason"), ERROR_TABLE)
def test_error_mapping(
    server: FixtureServer,
    make_client: MakeClient,
    status: int,
    code: str | None,
    expected: type[ApiError],
    reason: str | None,
) -> None:
    server.on("GET", RUNS_GET, Reply(status, body(code, "Run 7 is not what you want.")))
    with pytest.raises(ApiError) as info:
        make_client(max_retry_seconds=0).get_run(7)
    error = info.value
    assert type(error) is expected
    assert (error.method, error.path, error.status, error.error_code) == (
        "GET",
        RUNS_GET,
        status,
        code,
    )
    assert error.message == "Run 7 is not what you want."
    assert str(error).startswith(f"GET {RUNS_GET} -> {status}")
    assert is_retryable(error) == reason


def test_hierarchy_groups_errors_by_what_the_caller_does() -> None:
    assert issubclass(databricks.AlreadyExists, databricks.ResourceConflict)
    assert issubclass(databricks.RequestLimitExceeded, databricks.TooManyRequests)
    assert issubclass(databricks.CapacityExceeded, databricks.TooManyRequests)
    assert issubclass(databricks.ResourceDoesNotExist, databricks.NotFound)
    assert issubclass(databricks.InvalidParameterValue, databricks.BadRequest)
    assert issubclass(databricks.TemporarilyUnavailable, databricks.ServerError)
    assert issubclass(databricks.TimeoutError, TransportError)
    assert issubclass(databricks.ConnectError, TransportError)
    assert issubclass(TransportError, DatabricksError) and issubclass(ApiError, DatabricksError)
    assert not issubclass(databricks.TimeoutError, TimeoutError)  # not the builtin


def test_non_json_error_body_becomes_the_message(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("GET", RUNS_GET, Reply(502, b"<html>Bad Gateway</html>"))
    with pytest.raises(databricks.ServerError) as info:
        make_client().get_run(1)
    assert info.value.error_code is None
    assert info.value.message == "<html>Bad Gateway</html>"


def test_long_error_messages_are_cut(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", RUNS_GET, Reply(400, body("INVALID_PARAMETER_VALUE", "x" * 5000)))
    with pytest.raises(databricks.InvalidParameterValue) as info:
        make_client().get_run(1)
    assert len(info.value.message) < 600


def test_retry_after_header_is_carried(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", RUNS_GET, Reply(429, body("REQUEST_LIMIT_EXCEEDED"), {"Retry-After": "17"}))
    with pytest.raises(databricks.RequestLimitExceeded) as info:
        make_client(max_retry_seconds=0).get_run(1)
    assert info.value.retry_after == 17.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("Wed, 01 Jan 2025 00:00:30 GMT", 30.0),
        ("Tue, 31 Dec 2024 23:59:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


def test_connection_refused_is_a_connect_error(
    make_client: MakeClient, closed_port_url: str
) -> None:
    with pytest.raises(databricks.ConnectError) as info:
        make_client(url=closed_port_url).get_run(1)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.path == RUNS_GET
    assert is_retryable(info.value) == "cannot connect"


def test_a_slow_answer_is_a_timeout(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", RUNS_GET, Reply(body={"run_id": 1}, delay=0.5))
    with pytest.raises(databricks.TimeoutError) as info:
        make_client(timeout=0.1).get_run(1)
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    assert is_retryable(info.value) == "timed out"


def test_a_dropped_connection_is_connection_lost(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("GET", RUNS_GET, Reply(drop=True))
    with pytest.raises(databricks.ConnectionLost) as info:
        make_client().get_run(1)
    assert isinstance(info.value.__cause__, httpx.TransportError)
    assert is_retryable(info.value) == "connection lost"


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("boom"),
        databricks.CredentialError("no identity"),
        TransportError("UnsupportedProtocol: bad scheme"),
        databricks.MalformedResponse("not json", status=200),
    ],
)
def test_other_errors_are_not_retryable(exc: BaseException) -> None:
    assert is_retryable(exc) is None


def test_errors_survive_pickling() -> None:
    # Celery may carry an exception to another process.
    error = databricks.RequestLimitExceeded(
        "slow down",
        method="POST",
        path="/api/2.2/jobs/run-now",
        status=429,
        error_code="REQUEST_LIMIT_EXCEEDED",
        retry_after=2.0,
    )
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is databricks.RequestLimitExceeded
    assert (copy.method, copy.path, copy.status, copy.error_code, copy.retry_after) == (
        "POST",
        "/api/2.2/jobs/run-now",
        429,
        "REQUEST_LIMIT_EXCEEDED",
        2.0,
    )
    assert str(copy) == str(error)


def test_error_messages_never_carry_the_token(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("GET", RUNS_GET, Reply(401, body("UNAUTHENTICATED", "Invalid access token.")))
    with pytest.raises(databricks.Unauthenticated) as info:
        make_client().get_run(1)
    assert TEST_TOKEN not in str(info.value) and TEST_TOKEN not in repr(info.value)


# The documented overrides (databricks-sdk errors/overrides.py): a missing job or run on
# jobs/get and jobs/runs/get comes as 400 INVALID_PARAMETER_VALUE; only those are re-mapped.
OVERRIDE_TABLE: list[tuple[str, str, str, type[ApiError]]] = [
    ("GET", "/api/2.2/jobs/get", "Job 5 does not exist.", databricks.ResourceDoesNotExist),
    ("GET", "/api/2.1/jobs/get", "Job 5 does not exist.", databricks.ResourceDoesNotExist),
    ("GET", "/api/2.2/jobs/runs/get", "Run 7 does not exist.", databricks.ResourceDoesNotExist),
    (
        "GET",
        "/api/2.2/jobs/runs/get",
        "Run: 7 in job: 5 doesn't exist",
        databricks.ResourceDoesNotExist,
    ),
    # Same message, an endpoint the override does not name: the code decides.
    ("POST", "/api/2.2/jobs/run-now", "Job 5 does not exist.", databricks.InvalidParameterValue),
    ("GET", "/api/2.2/jobs/get", "Job settings are invalid", databricks.InvalidParameterValue),
]


@pytest.mark.parametrize(("method", "path", "message", "expected"), OVERRIDE_TABLE)
def test_documented_overrides(
    method: str, path: str, message: str, expected: type[ApiError]
) -> None:
    from service.databricks.errors import api_error_from_response

    error = api_error_from_response(
        method=method,
        path=path,
        status=400,
        body=json.dumps(body("INVALID_PARAMETER_VALUE", message)).encode(),
        headers={},
    )
    assert type(error) is expected
    assert error.error_code == "INVALID_PARAMETER_VALUE"


def test_a_deleted_job_reads_as_resource_does_not_exist(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on(
        "GET",
        "/api/2.2/jobs/get",
        Reply(400, body("INVALID_PARAMETER_VALUE", "Job 5 does not exist.")),
    )
    with pytest.raises(databricks.ResourceDoesNotExist):
        make_client(max_retry_seconds=0).get_job(5)


# The two 429s: a rate limit (waiting cures it) and capacity (only runs ending cure it).
RATE_LIMIT_429S: list[tuple[str | None, dict[str, str], bool, float | None]] = [
    ("REQUEST_LIMIT_EXCEEDED", {"Retry-After": "3"}, True, 3.0),
    ("REQUEST_LIMIT_EXCEEDED", {}, True, None),
    ("RESOURCE_EXHAUSTED", {}, True, None),
    (None, {}, True, None),  # a gateway's 429 without a Databricks body
    ("WORKSPACE_RUN_LIMIT_EXCEEDED", {}, False, None),
    ("WORKSPACE_RUN_LIMIT_EXCEEDED", {"Retry-After": "20"}, False, 20.0),
    ("TOO_MANY_CONCURRENT_RUNS", {}, False, None),
]


@pytest.mark.parametrize(("code", "headers", "rate_limit", "retry_after"), RATE_LIMIT_429S)
def test_a_429_is_a_rate_limit_or_capacity_by_its_body(
    server: FixtureServer,
    make_client: MakeClient,
    code: str | None,
    headers: dict[str, str],
    rate_limit: bool,
    retry_after: float | None,
) -> None:
    server.on(
        "POST",
        "/api/2.2/jobs/run-now",
        Reply(429, body(code, "The run cannot start immediately."), headers),
    )
    with pytest.raises(databricks.TooManyRequests) as info:
        make_client(max_retry_seconds=0).run_now(1, idempotency_token="t-1")
    assert is_rate_limit(info.value) is rate_limit
    assert isinstance(info.value, databricks.CapacityExceeded) is not rate_limit
    assert (is_retryable(info.value) == "rate limited") is rate_limit
    assert info.value.retry_after == retry_after


def test_only_429s_are_rate_limits() -> None:
    assert not is_rate_limit(databricks.InternalError("boom", status=500))
    assert not is_rate_limit(databricks.BudgetExhausted("spent"))
    assert not is_rate_limit(ValueError("no"))

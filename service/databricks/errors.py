"""Errors raised by the Databricks client, grouped by what the caller does about them.

    DatabricksError                     everything this package raises
    ├── CredentialError                 no token could be obtained (Azure AD): fix the identity
    ├── BudgetExhausted                 the workspace's request budget is spent: nothing sent, defer
    ├── TransportError                  no usable HTTP response: a network or protocol problem
    │   ├── ConnectError                the request never reached Databricks: always safe to retry
    │   │   └── ConnectTimeout          ... because connecting took too long (also a TimeoutError)
    │   ├── TimeoutError                no answer in time: the request may have been processed
    │   └── ConnectionLost              the connection broke mid-exchange: may have been processed
    └── ApiError                        Databricks answered with an error status
        ├── BadRequest                  400: the request is wrong; fix it, never retry
        │   ├── InvalidParameterValue   (a missing job or run on jobs/get, runs/get is
        │   │                            ResourceDoesNotExist, as databricks-sdk overrides)
        │   ├── InvalidState            e.g. repairing a run that is still active
        │   └── CouldNotAcquireLock     lock contention on the job: transient, retried
        ├── Unauthenticated             401: the token is missing, expired or revoked
        ├── PermissionDenied            403
        ├── NotFound                    404
        │   └── ResourceDoesNotExist
        ├── ResourceConflict            409
        │   ├── AlreadyExists
        │   └── Aborted
        ├── TooManyRequests             429 without an error code (a gateway): a rate limit
        │   ├── RequestLimitExceeded    the workspace rate limit: wait (Retry-After), retry
        │   ├── ResourceExhausted       a per-user rate limit: wait, retry
        │   └── CapacityExceeded        the workspace can't start more runs now: defer, don't hammer
        ├── ServerError                 5xx: Databricks failed; transient, retried
        │   ├── InternalError           500
        │   ├── TemporarilyUnavailable  503
        │   └── DeadlineExceeded        504
        └── MalformedResponse           a 2xx whose body is not the JSON the endpoint promises

Why this shape: a caller branches on what it can do (fix the request, fix the identity,
wait and retry, defer the run), so classes are grouped that way and never by message text.
An `ApiError` is built from the Databricks ``error_code`` first, then the HTTP status, then
a generic fallback (the databricks-sdk order), so a specific code beats a generic status.

The two 429s differ in what the caller should do. A rate limit (``REQUEST_LIMIT_EXCEEDED``)
is cured by waiting a second or so. A capacity 429 ("a run that cannot start immediately")
is cured only by runs ending; it is not retried in-process — the run engine parks the
run in the database and tries again later. A 429 is a rate limit when its body carries a
rate-limit code or no code at all, and capacity when it carries any other code.

Every error carries ``method``, ``path``, ``status``, ``error_code`` and ``retry_after``
(``None`` where they don't apply). Messages hold what Databricks said, never headers or
tokens. Errors pickle (Celery may carry them between processes).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = [
    "Aborted",
    "AlreadyExists",
    "ApiError",
    "BadRequest",
    "BudgetExhausted",
    "CapacityExceeded",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionLost",
    "CouldNotAcquireLock",
    "CredentialError",
    "DatabricksError",
    "DeadlineExceeded",
    "InternalError",
    "InvalidParameterValue",
    "InvalidState",
    "MalformedResponse",
    "NotFound",
    "PermissionDenied",
    "RequestLimitExceeded",
    "ResourceConflict",
    "ResourceDoesNotExist",
    "ResourceExhausted",
    "ServerError",
    "TemporarilyUnavailable",
    "TimeoutError",
    "TooManyRequests",
    "TransportError",
    "Unauthenticated",
    "api_error_from_response",
    "is_rate_limit",
    "is_retryable",
    "parse_retry_after",
    "transport_error_from_httpx",
]

# A message longer than this is cut: error bodies can be whole HTML pages from a proxy.
_MAX_MESSAGE_CHARS = 500


class DatabricksError(Exception):
    """Base of every error the Databricks client raises."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        # Only `message` goes to Exception.args; the rest lives in __dict__, which
        # BaseException.__reduce__ carries, so `cls(message)` + state unpickles.
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.error_code = error_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        return f"{where}{self.message}"


class CredentialError(DatabricksError):
    """An access token could not be obtained from the configured identity."""


class BudgetExhausted(DatabricksError):
    """No request token in the workspace's shared budget within the caller's maximum
    wait. Nothing was sent; the caller parks the work and tries again later."""


class TransportError(DatabricksError):
    """No usable HTTP response (protocol errors, unsupported URLs and the subclasses)."""


class ConnectError(TransportError):
    """The connection could not be opened; the request was not sent."""


# Shadows the builtin in this module only; callers import it qualified (`databricks.TimeoutError`).
class TimeoutError(TransportError):
    """Connecting, sending or waiting for the response took longer than the timeout."""


class ConnectTimeout(ConnectError, TimeoutError):
    """No connection within the timeout (or none free in the pool); nothing was sent."""


class ConnectionLost(TransportError):
    """The connection broke after the request may have been sent."""


class ApiError(DatabricksError):
    """Databricks answered with a non-success status."""

    def __str__(self) -> str:
        code = f" {self.error_code}" if self.error_code else ""
        return f"{self.method} {self.path} -> {self.status}{code}: {self.message}"


class BadRequest(ApiError):
    """400: the request is invalid."""


class InvalidParameterValue(BadRequest):
    """A supplied value was invalid (also how Databricks reports many unknown ids)."""


class InvalidState(BadRequest):
    """The resource is in a state that does not allow the operation."""


class CouldNotAcquireLock(BadRequest):
    """Another request holds the job's lock; transient."""


class Unauthenticated(ApiError):
    """401: no valid credentials."""


class PermissionDenied(ApiError):
    """403: the identity may not do this."""


class NotFound(ApiError):
    """404: the resource does not exist."""


class ResourceDoesNotExist(NotFound):
    """The named resource does not exist."""


class ResourceConflict(ApiError):
    """409: conflicts with the current state of a resource."""


class AlreadyExists(ResourceConflict):
    """A resource with that identity already exists."""


class Aborted(ResourceConflict):
    """Aborted by a concurrency check."""


class TooManyRequests(ApiError):
    """429: throttled."""


class RequestLimitExceeded(TooManyRequests):
    """The workspace's API rate limit was hit."""


class ResourceExhausted(TooManyRequests):
    """A per-user rate limit was hit."""


class CapacityExceeded(TooManyRequests):
    """The workspace cannot start more runs right now; defer, don't retry in-process."""


class ServerError(ApiError):
    """5xx: Databricks failed to handle a request it may have received."""


class InternalError(ServerError):
    """500."""


class TemporarilyUnavailable(ServerError):
    """503."""


class DeadlineExceeded(ServerError):
    """504."""


class MalformedResponse(ApiError):
    """A success status with a body that is not what the endpoint returns."""


_ERROR_CODE_CLASSES: Mapping[str, type[ApiError]] = {
    "BAD_REQUEST": BadRequest,
    "INVALID_PARAMETER_VALUE": InvalidParameterValue,
    "INVALID_STATE": InvalidState,
    "COULD_NOT_ACQUIRE_LOCK": CouldNotAcquireLock,
    "UNAUTHENTICATED": Unauthenticated,
    "PERMISSION_DENIED": PermissionDenied,
    "NOT_FOUND": NotFound,
    "RESOURCE_DOES_NOT_EXIST": ResourceDoesNotExist,
    "ALREADY_EXISTS": AlreadyExists,
    "RESOURCE_ALREADY_EXISTS": AlreadyExists,
    "ABORTED": Aborted,
    "REQUEST_LIMIT_EXCEEDED": RequestLimitExceeded,
    "RESOURCE_EXHAUSTED": ResourceExhausted,
    # The termination code Databricks uses when the workspace run quota is reached.
    "WORKSPACE_RUN_LIMIT_EXCEEDED": CapacityExceeded,
    "INTERNAL_ERROR": InternalError,
    "TEMPORARILY_UNAVAILABLE": TemporarilyUnavailable,
    "DEADLINE_EXCEEDED": DeadlineExceeded,
}

_STATUS_CLASSES: Mapping[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: ResourceConflict,
    429: TooManyRequests,
    500: InternalError,
    503: TemporarilyUnavailable,
    504: DeadlineExceeded,
}


def _error_class(status: int, error_code: str | None) -> type[ApiError]:
    if error_code is not None and error_code in _ERROR_CODE_CLASSES:
        return _ERROR_CODE_CLASSES[error_code]
    if status == 429 and error_code:
        # A 429 whose code is not a rate-limit code is the capacity 429 (see the docstring).
        return CapacityExceeded
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    return ServerError if status >= 500 else ApiError


def _read_error_body(body: bytes) -> tuple[str | None, str]:
    """Return (error_code, message) from a Databricks error body, JSON or not."""
    try:
        payload = json.loads(body) if body else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        code = payload.get("error_code")
        message = payload.get("message") or payload.get("error") or payload.get("detail")
        return (
            code if isinstance(code, str) and code else None,
            str(message) if message else "",
        )
    return None, body.decode("utf-8", "replace").strip()


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class _Override:
    """A documented exception to the code-then-status mapping (databricks-sdk's
    ``errors/overrides.py``): Databricks reports a missing job or run on ``jobs/get`` and
    ``jobs/runs/get`` as 400 INVALID_PARAMETER_VALUE "Job N does not exist.", and the
    SDK re-maps exactly those to ResourceDoesNotExist. Only these listed (method, path,
    status, code, message) shapes are re-mapped; message text decides nothing elsewhere."""

    method: str
    path: re.Pattern[str]
    status: int
    error_code: str
    message: re.Pattern[str]
    cls: type[ApiError]

    def matches(self, method: str, path: str, status: int, code: str | None, msg: str) -> bool:
        return (
            method == self.method
            and status == self.status
            and code == self.error_code
            and bool(self.path.match(path))
            and bool(self.message.search(msg))
        )


_OVERRIDES: tuple[_Override, ...] = (
    _Override(
        "GET",
        re.compile(r"^/api/2\.\d/jobs/get"),
        400,
        "INVALID_PARAMETER_VALUE",
        re.compile(r"Job .* does not exist"),
        ResourceDoesNotExist,
    ),
    _Override(
        "GET",
        re.compile(r"^/api/2\.\d/jobs/runs/get"),
        400,
        "INVALID_PARAMETER_VALUE",
        re.compile(r"(Run .* does not exist|Run: .* in job: .* doesn't exist)"),
        ResourceDoesNotExist,
    ),
)


def api_error_from_response(
    *, method: str, path: str, status: int, body: bytes, headers: Mapping[str, str]
) -> ApiError:
    """Build the most specific `ApiError` for an error response."""
    error_code, message = _read_error_body(body)
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS] + "..."
    cls = _error_class(status, error_code)
    for override in _OVERRIDES:
        if override.matches(method, path, status, error_code, message):
            cls = override.cls
            break
    return cls(
        message or f"HTTP {status}",
        method=method,
        path=path,
        status=status,
        error_code=error_code,
        retry_after=parse_retry_after(headers.get("retry-after")),
    )


def transport_error_from_httpx(exc: httpx.HTTPError, *, method: str, path: str) -> TransportError:
    """Map an httpx transport exception to ours; the caller raises it ``from exc``."""
    cls: type[TransportError]
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        cls = ConnectTimeout
    elif isinstance(exc, httpx.TimeoutException):
        cls = TimeoutError
    elif isinstance(exc, httpx.ConnectError):
        cls = ConnectError
    elif isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.RemoteProtocolError):
        cls = ConnectionLost
    else:
        cls = TransportError
    # httpx messages name the failure ("[Errno 111] Connection refused"), never headers.
    return cls(f"{type(exc).__name__}: {exc}", method=method, path=path)


def is_rate_limit(exc: BaseException) -> bool:
    """A 429 that waiting a moment cures (the workspace's request rate), as opposed to
    the capacity 429, which only runs ending cure."""
    return isinstance(exc, TooManyRequests) and not isinstance(exc, CapacityExceeded)


def is_retryable(exc: BaseException) -> str | None:
    """Why `exc` is worth retrying, or None. Decided by type and status, never by text.

    Whether a retryable failure may actually be retried also depends on the endpoint:
    a request that may have been processed is replayed only where replaying is safe
    (see `client.py`).
    """
    if isinstance(exc, ConnectError):
        return "cannot connect"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionLost):
        return "connection lost"
    if is_rate_limit(exc):
        return "rate limited"
    if isinstance(exc, CouldNotAcquireLock):
        return "job lock held by another request"
    if isinstance(exc, ApiError) and exc.status is not None and exc.status >= 500:
        return f"server error {exc.status}"
    return None

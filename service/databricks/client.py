"""A sync client for the Databricks Jobs API 2.2 (a workspace or the local backend).

Every call goes through one chokepoint, `DatabricksClient._request`, which
- adds the ``/api/2.2/`` prefix to a path from the endpoint table below,
- logs one INFO line per HTTP exchange (method, path, status, milliseconds) and never
  headers, tokens or bodies, and tells the optional ``on_exchange`` hook (metrics),
- translates httpx exceptions and error responses into `errors` (``raise ... from exc``),
- takes one token from the workspace's shared request budget (`budget`) per HTTP
  exchange, retries included, from the bucket of the endpoint's class (reads or
  writes), so however many runs are watched Lockgate stays under the workspace's rate
  limits; a rate-limit 429 pauses that bucket for every worker (`budget.back_off`),
- retries transient failures as `retrying` decides: jittered exponential backoff, a
  server's ``Retry-After`` honoured first, everything bounded by ``max_retry_seconds``.

In-process retries stay short (seconds) because the callers are Celery workers: a
longer wait (a Retry-After beyond the budget, a capacity 429, an outage) surfaces as the
error, with ``retry_after`` set, and the caller parks the work in the database.

Which failures may be replayed depends on the endpoint (`Replay`):
- reads, jobs/reset, jobs/delete and runs/cancel are idempotent;
- jobs/run-now and jobs/runs/submit are replayed only because every call carries an
  ``idempotency_token``: Databricks answers a repeat with the run it already made;
- jobs/create has no idempotency token, so a request that may have been processed (a
  timeout, a dropped connection, a 5xx) is never replayed — that could make a second job.
  It is retried only when Databricks surely did not act on it (no connection, a rate
  limit, a lock conflict); otherwise the caller looks the job up before creating again.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx

from service.databricks.auth import auth_for_profile
from service.databricks.budget import RequestBudget, Unlimited, WorkspaceBudget
from service.databricks.errors import (
    DatabricksError,
    MalformedResponse,
    api_error_from_response,
    is_rate_limit,
    transport_error_from_httpx,
)
from service.databricks.models import JobsPage, RunInfo, RunOutput, RunsPage
from service.databricks.profiles import workspace_profile
from service.databricks.retrying import (
    API_PREFIX,
    RATE_LIMIT_MIN_SECONDS,
    Endpoint,
    Replay,
    call_with_retries,
)
from service.settings import Settings

__all__ = ["API_PREFIX", "DatabricksClient", "Endpoint", "Replay"]

logger = logging.getLogger(__name__)

JOBS_CREATE = Endpoint("POST", "jobs/create", Replay.UNSENT_ONLY)
JOBS_RESET = Endpoint("POST", "jobs/reset")
JOBS_GET = Endpoint("GET", "jobs/get")
JOBS_LIST = Endpoint("GET", "jobs/list")
JOBS_DELETE = Endpoint("POST", "jobs/delete")
JOBS_RUN_NOW = Endpoint("POST", "jobs/run-now")  # SAFE: always sent with idempotency_token
RUNS_SUBMIT = Endpoint("POST", "jobs/runs/submit")  # SAFE: always sent with idempotency_token
RUNS_GET = Endpoint("GET", "jobs/runs/get")
RUNS_LIST = Endpoint("GET", "jobs/runs/list")
RUNS_CANCEL = Endpoint("POST", "jobs/runs/cancel")
RUNS_GET_OUTPUT = Endpoint("GET", "jobs/runs/get-output")
# Not idempotent by token, but by latest_repair_id: a replayed repair of a run that was
# already repaired names a stale latest_repair_id and Databricks refuses it.
RUNS_REPAIR = Endpoint("POST", "jobs/runs/repair", Replay.UNSENT_ONLY)
WORKSPACE_MKDIRS = Endpoint("POST", "/api/2.0/workspace/mkdirs")
WORKSPACE_IMPORT = Endpoint("POST", "/api/2.0/workspace/import")  # SAFE: overwrite=true

# Called once per HTTP exchange with its endpoint and outcome (the status code, or the
# error's name when no response came), e.g. to count calls for /metrics. Must not raise.
ExchangeHook = Callable[[Endpoint, int | str], None]

_MAX_IDEMPOTENCY_TOKEN_CHARS = 64
# jobs/get and runs/get return at most 100 tasks per page; 1,000 tasks is the job limit.
_MAX_PAGES = 20


def _normalise_base_url(base_url: str) -> str:
    """Accept ``host``, ``https://host`` or ``https://host/``; default to https."""
    url = base_url.strip()
    if "://" not in url:
        url = "https://" + url
    if not urlsplit(url).hostname:
        raise ValueError(f"not a Databricks host URL: {base_url!r}")
    return url.rstrip("/")


def _query(params: Mapping[str, object]) -> dict[str, str | int]:
    # Databricks reads booleans as "true"/"false"; unset parameters are left out.
    query: dict[str, str | int] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            query[key] = "true" if value else "false"
        elif isinstance(value, int | str):
            query[key] = value
        else:
            raise TypeError(f"query parameter {key} must be str, int or bool")
    return query


def _check_idempotency_token(token: str) -> None:
    if not token or len(token) > _MAX_IDEMPOTENCY_TOKEN_CHARS:
        raise ValueError("idempotency_token must be 1 to 64 characters")


class DatabricksClient:
    """The Jobs API calls Lockgate makes. Thread-safe; one per process is enough."""

    def __init__(
        self,
        base_url: str,
        auth: httpx.Auth,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        max_retry_seconds: float = 10.0,
        user_agent: str = "lockgate/0.1",
        budget: WorkspaceBudget | RequestBudget | None = None,
        on_exchange: ExchangeHook | None = None,
    ) -> None:
        self._max_retry_seconds = max_retry_seconds
        # One budget given: it meters every class of request.
        self._budget = (
            budget
            if isinstance(budget, WorkspaceBudget)
            else WorkspaceBudget.single(budget or Unlimited())
        )
        self._on_exchange = on_exchange
        self._http = httpx.Client(
            base_url=_normalise_base_url(base_url),
            auth=auth,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": user_agent},
            follow_redirects=False,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        profile: str = "default",
        budget: WorkspaceBudget | RequestBudget | None = None,
        on_exchange: ExchangeHook | None = None,
    ) -> DatabricksClient:
        """A client for one workspace profile (``default``: the LOCKGATE_DATABRICKS_* one)."""
        workspace = workspace_profile(settings, profile)
        return cls(
            workspace.host,
            auth_for_profile(workspace),
            timeout=settings.databricks_timeout_seconds,
            budget=budget,
            on_exchange=on_exchange,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> DatabricksClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- jobs ---------------------------------------------------------------------------

    def create_job(self, settings: Mapping[str, Any]) -> int:
        response = self._request(JOBS_CREATE, body=dict(settings))
        return self._int_field(JOBS_CREATE, response, "job_id")

    def reset_job(self, job_id: int, settings: Mapping[str, Any]) -> None:
        self._request(JOBS_RESET, body={"job_id": job_id, "new_settings": dict(settings)})

    def get_job(self, job_id: int) -> dict[str, Any]:
        """The job with all its tasks, job clusters, parameters and environments."""
        return self._get_all_pages(
            JOBS_GET,
            {"job_id": job_id},
            container="settings",
            arrays=("tasks", "job_clusters", "parameters", "environments"),
        )

    def list_jobs(
        self, *, name: str | None = None, limit: int = 100, page_token: str | None = None
    ) -> JobsPage:
        if not 1 <= limit <= 100:
            raise ValueError("jobs/list limit must be between 1 and 100")
        response = self._request(
            JOBS_LIST, params={"name": name, "limit": limit, "page_token": page_token}
        )
        return JobsPage(
            jobs=list(response.get("jobs") or []),
            next_page_token=response.get("next_page_token") or None,
        )

    def delete_job(self, job_id: int) -> None:
        # Replaying a delete whose answer was lost fails with a not-found error at worst.
        self._request(JOBS_DELETE, body={"job_id": job_id})

    # -- runs ---------------------------------------------------------------------------

    def run_now(
        self,
        job_id: int,
        *,
        idempotency_token: str,
        job_parameters: Mapping[str, str] | None = None,
        notebook_params: Mapping[str, str] | None = None,
        python_params: Sequence[str] | None = None,
    ) -> int:
        """Start a run of a job; the same token always answers with the same run."""
        _check_idempotency_token(idempotency_token)
        body: dict[str, Any] = {"job_id": job_id, "idempotency_token": idempotency_token}
        if job_parameters is not None:
            body["job_parameters"] = dict(job_parameters)
        if notebook_params is not None:
            body["notebook_params"] = dict(notebook_params)
        if python_params is not None:
            body["python_params"] = list(python_params)
        return self._int_field(JOBS_RUN_NOW, self._request(JOBS_RUN_NOW, body=body), "run_id")

    def submit_run(self, payload: Mapping[str, Any], *, idempotency_token: str) -> int:
        """Submit a one-time run; the same token always answers with the same run."""
        _check_idempotency_token(idempotency_token)
        existing = payload.get("idempotency_token")
        if existing is not None and existing != idempotency_token:
            raise ValueError("payload carries a different idempotency_token")
        body = {**payload, "idempotency_token": idempotency_token}
        return self._int_field(RUNS_SUBMIT, self._request(RUNS_SUBMIT, body=body), "run_id")

    def get_run(self, run_id: int) -> RunInfo:
        """One run with all its task runs (pages past the first 100 are fetched too) and its
        repair history (Databricks includes it only when asked)."""
        data = self._get_all_pages(
            RUNS_GET,
            {"run_id": run_id, "include_history": True},
            container=None,
            arrays=("tasks", "iterations", "job_clusters", "job_parameters", "repair_history"),
        )
        return self._parse_run(RUNS_GET, data)

    def list_runs(
        self,
        *,
        active_only: bool = False,
        completed_only: bool = False,
        job_id: int | None = None,
        limit: int = 25,
        page_token: str | None = None,
        expand_tasks: bool = True,
        start_time_from: int | None = None,
        start_time_to: int | None = None,
        run_type: str | None = None,
    ) -> RunsPage:
        """One page of runs, newest first; with ``expand_tasks`` each has its first 100 tasks."""
        if active_only and completed_only:
            raise ValueError("active_only and completed_only cannot both be set")
        if not 1 <= limit <= 25:
            raise ValueError("runs/list limit must be between 1 and 25")
        params = {
            "active_only": active_only or None,
            "completed_only": completed_only or None,
            "job_id": job_id,
            "limit": limit,
            "page_token": page_token,
            "expand_tasks": expand_tasks,
            "start_time_from": start_time_from,
            "start_time_to": start_time_to,
            "run_type": run_type,
        }
        response = self._request(RUNS_LIST, params=params)
        return RunsPage(
            runs=[self._parse_run(RUNS_LIST, run) for run in response.get("runs") or []],
            next_page_token=response.get("next_page_token") or None,
        )

    def import_workspace_file(self, path: str, content: bytes) -> None:
        """Writes a workspace file (its folders made first), replacing any older one."""
        parent = path.rsplit("/", 1)[0] or "/"
        self._request(WORKSPACE_MKDIRS, body={"path": parent})
        self._request(
            WORKSPACE_IMPORT,
            body={
                "path": path,
                "format": "AUTO",
                "content": base64.b64encode(content).decode(),
                "overwrite": True,
            },
        )

    def cancel_run(self, run_id: int) -> None:
        """Ask Databricks to cancel; it does so asynchronously."""
        self._request(RUNS_CANCEL, body={"run_id": run_id})

    def repair_run(
        self,
        run_id: int,
        *,
        rerun_tasks: Sequence[str] | None = None,
        rerun_all_failed_tasks: bool = False,
        rerun_dependent_tasks: bool = True,
        latest_repair_id: int | None = None,
    ) -> int:
        """Re-run tasks of an ended run in place; returns the repair id. Pass the last
        repair id Lockgate recorded: Databricks refuses a stale one, which is what keeps
        a replayed repair from running the tasks twice."""
        if not rerun_tasks and not rerun_all_failed_tasks:
            raise ValueError("name rerun_tasks or set rerun_all_failed_tasks")
        body: dict[str, Any] = {"run_id": run_id, "rerun_dependent_tasks": rerun_dependent_tasks}
        if rerun_tasks:
            body["rerun_tasks"] = list(rerun_tasks)
        if rerun_all_failed_tasks:
            body["rerun_all_failed_tasks"] = True
        if latest_repair_id is not None:
            body["latest_repair_id"] = latest_repair_id
        return self._int_field(RUNS_REPAIR, self._request(RUNS_REPAIR, body=body), "repair_id")

    def get_run_output(self, run_id: int) -> RunOutput:
        """Output of one task run (Databricks refuses a multi-task job run's id)."""
        return RunOutput.from_api(self._request(RUNS_GET_OUTPUT, params={"run_id": run_id}))

    # -- the chokepoint -----------------------------------------------------------------

    def call(
        self,
        endpoint: Endpoint,
        *,
        params: Mapping[str, object] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call to an endpoint defined elsewhere (other Databricks APIs' modules),
        through the same budget, retries, logging and error translation."""
        return self._request(endpoint, params=params, body=body)

    def _request(
        self,
        endpoint: Endpoint,
        *,
        params: Mapping[str, object] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        return call_with_retries(
            endpoint,
            lambda: self._send_once(endpoint, params, body),
            max_retry_seconds=self._max_retry_seconds,
        )

    def _send_once(
        self,
        endpoint: Endpoint,
        params: Mapping[str, object] | None,
        body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        method, path = endpoint.method, endpoint.url_path
        budget = self._budget.for_class(endpoint.request_class)
        budget.acquire()
        started = time.perf_counter()
        try:
            response = self._http.request(method, path, params=_query(params or {}), json=body)
        except httpx.HTTPError as exc:
            error = transport_error_from_httpx(exc, method=method, path=path)
            self._record_exchange(endpoint, type(error).__name__, started)
            raise error from exc
        except DatabricksError as exc:  # from the auth flow: no exchange completed
            self._record_exchange(endpoint, type(exc).__name__, started)
            raise
        self._record_exchange(endpoint, response.status_code, started)
        if not response.is_success:
            refused = api_error_from_response(
                method=method,
                path=path,
                status=response.status_code,
                body=response.content,
                headers=response.headers,
            )
            if is_rate_limit(refused):
                # The workspace is over its limit: every worker waits, not only this one.
                budget.back_off(refused.retry_after or RATE_LIMIT_MIN_SECONDS)
            raise refused
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError as exc:
            raise MalformedResponse(
                "response body is not JSON",
                method=method,
                path=path,
                status=response.status_code,
            ) from exc
        if not isinstance(data, dict):
            raise MalformedResponse(
                "response body is not a JSON object",
                method=method,
                path=path,
                status=response.status_code,
            )
        return data

    def _record_exchange(self, endpoint: Endpoint, outcome: int | str, started: float) -> None:
        self._log_exchange(endpoint.method, endpoint.url_path, outcome, started)
        if self._on_exchange is not None:
            self._on_exchange(endpoint, outcome)

    @staticmethod
    def _log_exchange(method: str, path: str, outcome: int | str, started: float) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "%s %s -> %s (%.0f ms)",
            method,
            path,
            outcome,
            elapsed_ms,
            extra={
                "http_method": method,
                "http_path": path,
                "http_outcome": outcome,
                "elapsed_ms": round(elapsed_ms, 1),
            },
        )

    # -- response helpers ---------------------------------------------------------------

    def _get_all_pages(
        self,
        endpoint: Endpoint,
        params: Mapping[str, object],
        *,
        container: str | None,
        arrays: Sequence[str],
    ) -> dict[str, Any]:
        """Follow ``next_page_token`` and append each page's arrays to the first response."""
        merged = self._request(endpoint, params=params)
        token = merged.pop("next_page_token", None)
        seen: set[str] = set()
        while token and token not in seen and len(seen) < _MAX_PAGES:
            seen.add(token)
            page = self._request(endpoint, params={**params, "page_token": token})
            target = merged.setdefault(container, {}) if container else merged
            source = (page.get(container) or {}) if container else page
            for key in arrays:
                if source.get(key):
                    target.setdefault(key, []).extend(source[key])
            token = page.get("next_page_token")
        if seen:
            merged["has_more"] = bool(token)
        return merged

    @staticmethod
    def _int_field(endpoint: Endpoint, data: Mapping[str, Any], key: str) -> int:
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise MalformedResponse(
                f"response has no integer {key!r}",
                method=endpoint.method,
                path=endpoint.url_path,
                status=200,
            )
        return value

    @staticmethod
    def _parse_run(endpoint: Endpoint, data: Any) -> RunInfo:
        if not isinstance(data, Mapping) or not isinstance(data.get("run_id"), int):
            raise MalformedResponse(
                "run has no integer 'run_id'",
                method=endpoint.method,
                path=endpoint.url_path,
                status=200,
            )
        return RunInfo.from_api(data)

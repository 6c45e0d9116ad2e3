"""What the run engine reads from a workflow: mode, workspace, concurrency, timeout and
retry policy.

``max_concurrent_runs`` and ``timeout_seconds`` are the workflow's own (Databricks job
settings, whatever format the workflow was written in). The rest lives in a ``lockgate``
block of the workflow document, every key optional, defaults from settings::

    lockgate:
      mode: job                  # job (deployed job + run-now) | one_time (runs/submit)
      workspace: default         # a workspace profile
      timeout_seconds: 3600      # Lockgate cancels the run after this (default: the job's)
      concurrency:
        on_limit: queue          # queue | skip, when max_concurrent_runs runs are active
        max_queued: 100
        max_wait_seconds: 3600
      retry:
        max_attempts: 3          # counting the first
        initial_backoff_seconds: 30
        max_backoff_seconds: 600
        multiplier: 2
        jitter: 0.1
        retry_on: [FAILED, INTERNAL_ERROR, TIMEDOUT]
        termination_codes: [CLOUD_FAILURE]
        mode: resubmit           # resubmit | repair
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.policies.retry import DEFAULT_RETRY_ON, RetryPolicy
from service.settings import Settings
from service.workflows import SpecIssue, WorkflowDefinition, WorkflowInvalid

__all__ = ["ENGINE_KEY", "EngineOptions", "engine_options"]

ENGINE_KEY = "lockgate"
_T = TypeVar("_T")


class _Concurrency(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_limit: Literal["queue", "skip"] | None = None
    max_queued: int | None = Field(default=None, ge=0)
    max_wait_seconds: float | None = Field(default=None, gt=0)


class _Retry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    initial_backoff_seconds: float | None = Field(default=None, ge=0)
    max_backoff_seconds: float | None = Field(default=None, ge=0)
    multiplier: float | None = Field(default=None, ge=1)
    jitter: float | None = Field(default=None, ge=0, le=1)
    retry_on: list[str] | None = None
    termination_codes: list[str] | None = None
    mode: Literal["resubmit", "repair"] | None = None


class _EngineBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["job", "one_time"] = "job"
    workspace: str = "default"
    timeout_seconds: float | None = Field(default=None, ge=0)
    concurrency: _Concurrency = _Concurrency()
    retry: _Retry = _Retry()


@dataclass(frozen=True)
class EngineOptions:
    mode: Literal["job", "one_time"]
    workspace: str
    max_concurrent_runs: int
    on_limit: Literal["queue", "skip"]
    max_queued: int
    max_queue_wait_seconds: float
    timeout_seconds: float  # 0: none
    retry: RetryPolicy


def _block(source: Mapping[str, Any]) -> _EngineBlock:
    raw = source.get(ENGINE_KEY) or {}
    try:
        return _EngineBlock.model_validate(raw)
    except ValidationError as exc:
        raise WorkflowInvalid(
            [
                SpecIssue(
                    path="$." + ".".join([ENGINE_KEY, *(str(p) for p in e["loc"])]),
                    message=e["msg"],
                )
                for e in exc.errors()
            ]
        ) from exc


def engine_options(definition: WorkflowDefinition, settings: Settings) -> EngineOptions:
    """Raises WorkflowInvalid (with JSON paths) for a malformed ``lockgate`` block."""
    block = _block(definition.source)
    job = definition.to_job_settings()
    queue_enabled = (job.get("queue") or {}).get("enabled")
    on_limit = block.concurrency.on_limit or ("skip" if queue_enabled is False else "queue")
    retry = block.retry
    policy = RetryPolicy(
        max_attempts=retry.max_attempts or settings.retry_max_attempts,
        initial_backoff_seconds=_pick(
            retry.initial_backoff_seconds, settings.retry_initial_backoff_seconds
        ),
        max_backoff_seconds=_pick(retry.max_backoff_seconds, settings.retry_max_backoff_seconds),
        multiplier=_pick(retry.multiplier, settings.retry_multiplier),
        jitter=_pick(retry.jitter, settings.retry_jitter),
        retry_on=frozenset(retry.retry_on) if retry.retry_on is not None else DEFAULT_RETRY_ON,
        termination_codes=frozenset(retry.termination_codes or ()),
        mode=retry.mode or settings.retry_mode,
    )
    timeout = block.timeout_seconds
    if timeout is None:
        timeout = float(job.get("timeout_seconds") or 0)
    return EngineOptions(
        mode=block.mode,
        workspace=block.workspace,
        max_concurrent_runs=int(job.get("max_concurrent_runs", 1)),
        on_limit=on_limit,
        max_queued=_pick(block.concurrency.max_queued, settings.queue_max_size),
        max_queue_wait_seconds=_pick(
            block.concurrency.max_wait_seconds, settings.queue_max_wait_seconds
        ),
        timeout_seconds=timeout,
        retry=policy,
    )


def _pick(value: _T | None, default: _T) -> _T:
    return default if value is None else value

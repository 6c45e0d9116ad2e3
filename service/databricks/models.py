"""Typed views of the Jobs API responses the client returns.

A run is parsed once (`RunInfo.from_api`) and everything else is derived from that parse.
Unknown enum values from the API become an explicit ``UNKNOWN`` member, never an exception:
Databricks adds states over time, and a new state must not break the poller.

Times are epoch milliseconds as Databricks sends them; ``0`` ("not yet") becomes ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

__all__ = [
    "JobsPage",
    "LifeCycleState",
    "ResultState",
    "RunInfo",
    "RunOutput",
    "RunsPage",
    "TaskRunInfo",
]


class LifeCycleState(StrEnum):
    QUEUED = "QUEUED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    SKIPPED = "SKIPPED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    BLOCKED = "BLOCKED"
    WAITING_FOR_RETRY = "WAITING_FOR_RETRY"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_LIFE_CYCLE_STATES


class ResultState(StrEnum):
    SUCCESS = "SUCCESS"
    SUCCESS_WITH_FAILURES = "SUCCESS_WITH_FAILURES"
    FAILED = "FAILED"
    TIMEDOUT = "TIMEDOUT"
    CANCELED = "CANCELED"
    MAXIMUM_CONCURRENT_RUNS_REACHED = "MAXIMUM_CONCURRENT_RUNS_REACHED"
    EXCLUDED = "EXCLUDED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    UPSTREAM_CANCELED = "UPSTREAM_CANCELED"
    DISABLED = "DISABLED"
    UNKNOWN = "UNKNOWN"


_TERMINAL_LIFE_CYCLE_STATES = frozenset(
    {LifeCycleState.TERMINATED, LifeCycleState.SKIPPED, LifeCycleState.INTERNAL_ERROR}
)
# Databricks counts "succeeded with failures" as success (leaf tasks all succeeded).
_RUN_SUCCESS = frozenset({ResultState.SUCCESS, ResultState.SUCCESS_WITH_FAILURES})
# A task EXCLUDED by an unmet failure-only run_if did what the job asked: not a failure,
# and a repair must not re-run it.
_TASK_SUCCESS = _RUN_SUCCESS | {ResultState.EXCLUDED}

# `status` (the newer field) for responses that no longer carry the deprecated `state`.
_STATUS_LIFE_CYCLE = {
    "WAITING": LifeCycleState.WAITING_FOR_RETRY,
}
_TERMINATION_RESULTS = {
    "SUCCESS": ResultState.SUCCESS,
    "SUCCESS_WITH_FAILURES": ResultState.SUCCESS_WITH_FAILURES,
    "USER_CANCELED": ResultState.CANCELED,
    "CANCELED": ResultState.CANCELED,
    "DISABLED": ResultState.DISABLED,
    "MAX_CONCURRENT_RUNS_EXCEEDED": ResultState.MAXIMUM_CONCURRENT_RUNS_REACHED,
}

_E = TypeVar("_E", LifeCycleState, ResultState)


def _enum(cls: type[_E], value: object) -> _E:
    if isinstance(value, str) and value in cls.__members__:
        return cls(value)
    return cls("UNKNOWN")


def _ms(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass(frozen=True)
class _State:
    life_cycle_state: LifeCycleState
    result_state: ResultState | None
    state_message: str
    termination_code: str | None
    user_cancelled_or_timedout: bool


def _parse_state(data: Mapping[str, Any]) -> _State:
    state = _dict(data.get("state"))
    termination = _dict(_dict(data.get("status")).get("termination_details"))
    termination_code = _str(termination.get("code"))
    if state:
        raw_result = state.get("result_state")
        return _State(
            life_cycle_state=_enum(LifeCycleState, state.get("life_cycle_state")),
            result_state=None if raw_result is None else _enum(ResultState, raw_result),
            state_message=_str(state.get("state_message")) or "",
            termination_code=termination_code,
            user_cancelled_or_timedout=bool(state.get("user_cancelled_or_timedout")),
        )
    status_state = _dict(data.get("status")).get("state")
    life_cycle = _STATUS_LIFE_CYCLE.get(str(status_state)) or _enum(LifeCycleState, status_state)
    result: ResultState | None = None
    if life_cycle is LifeCycleState.TERMINATED:
        # Any termination code not known as success or cancel is a failure.
        result = _TERMINATION_RESULTS.get(termination_code or "", ResultState.FAILED)
    return _State(
        life_cycle_state=life_cycle,
        result_state=result,
        state_message=_str(termination.get("message")) or "",
        termination_code=termination_code,
        user_cancelled_or_timedout=termination_code == "USER_CANCELED",
    )


def _is_terminal(life_cycle_state: LifeCycleState, result_state: ResultState | None) -> bool:
    # Databricks sets result_state only on terminal runs, so a run in a state we don't know
    # yet that carries a result has ended.
    if life_cycle_state is LifeCycleState.UNKNOWN:
        return result_state is not None
    return life_cycle_state.is_terminal


@dataclass(frozen=True)
class TaskRunInfo:
    """One task run inside a job run (an element of the run's ``tasks``)."""

    task_key: str
    run_id: int
    attempt_number: int
    life_cycle_state: LifeCycleState
    result_state: ResultState | None
    state_message: str
    start_time_ms: int | None
    end_time_ms: int | None
    termination_code: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> TaskRunInfo:
        state = _parse_state(data)
        return cls(
            task_key=str(data.get("task_key", "")),
            run_id=int(data.get("run_id", 0)),
            attempt_number=int(data.get("attempt_number") or 0),
            life_cycle_state=state.life_cycle_state,
            result_state=state.result_state,
            state_message=state.state_message,
            start_time_ms=_ms(data.get("start_time")),
            end_time_ms=_ms(data.get("end_time")),
            termination_code=state.termination_code,
        )

    @property
    def is_terminal(self) -> bool:
        return _is_terminal(self.life_cycle_state, self.result_state)

    @property
    def is_successful(self) -> bool:
        return self.is_terminal and self.result_state in _TASK_SUCCESS


@dataclass(frozen=True)
class RunInfo:
    """A job run or one-time run, parsed once from runs/get or a runs/list element."""

    run_id: int
    job_id: int | None
    run_name: str | None
    life_cycle_state: LifeCycleState
    result_state: ResultState | None
    state_message: str
    start_time_ms: int | None
    end_time_ms: int | None
    run_page_url: str | None
    attempt_number: int
    tasks: tuple[TaskRunInfo, ...]
    termination_code: str | None = None
    user_cancelled_or_timedout: bool = False
    # True when the response holds only the first page of tasks (over 100 in API 2.2):
    # runs/get pages through them; a runs/list element does not.
    has_more_tasks: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RunInfo:
        state = _parse_state(data)
        job_id = data.get("job_id")
        return cls(
            run_id=int(data["run_id"]),
            job_id=job_id if isinstance(job_id, int) else None,
            run_name=_str(data.get("run_name")),
            life_cycle_state=state.life_cycle_state,
            result_state=state.result_state,
            state_message=state.state_message,
            start_time_ms=_ms(data.get("start_time")),
            end_time_ms=_ms(data.get("end_time")),
            run_page_url=_str(data.get("run_page_url")),
            attempt_number=int(data.get("attempt_number") or 0),
            tasks=tuple(TaskRunInfo.from_api(t) for t in data.get("tasks") or ()),
            termination_code=state.termination_code,
            user_cancelled_or_timedout=state.user_cancelled_or_timedout,
            has_more_tasks=bool(data.get("has_more")),
            raw=data,
        )

    @property
    def is_terminal(self) -> bool:
        return _is_terminal(self.life_cycle_state, self.result_state)

    @property
    def is_successful(self) -> bool:
        return self.is_terminal and self.result_state in _RUN_SUCCESS


@dataclass(frozen=True)
class RunOutput:
    """runs/get-output for one task run. Large fields stay out of repr."""

    error: str | None
    error_trace: str | None = field(repr=False)
    notebook_result: str | None = field(repr=False)
    notebook_result_truncated: bool
    logs: str | None = field(repr=False)
    logs_truncated: bool
    metadata: RunInfo | None = field(repr=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RunOutput:
        notebook = _dict(data.get("notebook_output"))
        metadata = data.get("metadata")
        return cls(
            error=_str(data.get("error")),
            error_trace=_str(data.get("error_trace")),
            # "" is a real result (exit("")); absent means exit() was never called.
            notebook_result=_text(notebook.get("result")),
            notebook_result_truncated=bool(notebook.get("truncated")),
            logs=_text(data.get("logs")),
            logs_truncated=bool(data.get("logs_truncated")),
            metadata=RunInfo.from_api(metadata)
            if isinstance(metadata, Mapping) and "run_id" in metadata
            else None,
            raw=data,
        )


@dataclass(frozen=True)
class RunsPage:
    runs: list[RunInfo]
    next_page_token: str | None


@dataclass(frozen=True)
class JobsPage:
    jobs: list[dict[str, Any]]
    next_page_token: str | None

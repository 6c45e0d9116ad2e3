"""The Jobs API state vocabulary, as the local backend reports it.

Values are the wire strings of the Jobs API 2.2 (databricks-sdk ``service/jobs.py``), so
a record can be rendered without a translation table. ``status`` (the v2 state) is
derived from ``state.life_cycle_state`` by one function, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LifeCycleState(StrEnum):
    QUEUED = "QUEUED"
    PENDING = "PENDING"
    BLOCKED = "BLOCKED"  # a task waiting on its upstream tasks
    RUNNING = "RUNNING"
    WAITING_FOR_RETRY = "WAITING_FOR_RETRY"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    SKIPPED = "SKIPPED"
    INTERNAL_ERROR = "INTERNAL_ERROR"


TERMINAL_LIFE_CYCLE_STATES = frozenset(
    {LifeCycleState.TERMINATED, LifeCycleState.SKIPPED, LifeCycleState.INTERNAL_ERROR}
)
# What runs/list?active_only=true returns (the Jobs API's own definition of "active").
ACTIVE_LIFE_CYCLE_STATES = frozenset(
    {
        LifeCycleState.QUEUED,
        LifeCycleState.PENDING,
        LifeCycleState.RUNNING,
        LifeCycleState.TERMINATING,
    }
)


class ResultState(StrEnum):
    SUCCESS = "SUCCESS"
    SUCCESS_WITH_FAILURES = "SUCCESS_WITH_FAILURES"
    FAILED = "FAILED"
    TIMEDOUT = "TIMEDOUT"
    CANCELED = "CANCELED"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    UPSTREAM_CANCELED = "UPSTREAM_CANCELED"
    EXCLUDED = "EXCLUDED"
    DISABLED = "DISABLED"
    MAXIMUM_CONCURRENT_RUNS_REACHED = "MAXIMUM_CONCURRENT_RUNS_REACHED"


# Results that count as success when deciding dependents and the run's outcome.
SUCCESSFUL_RESULTS = frozenset(
    {
        ResultState.SUCCESS,
        ResultState.SUCCESS_WITH_FAILURES,
        ResultState.EXCLUDED,
        ResultState.DISABLED,
    }
)
CANCELLED_RESULTS = frozenset({ResultState.CANCELED, ResultState.UPSTREAM_CANCELED})


class StatusState(StrEnum):
    BLOCKED = "BLOCKED"
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    TERMINATING = "TERMINATING"
    TERMINATED = "TERMINATED"
    WAITING = "WAITING"


class TerminationCode(StrEnum):
    SUCCESS = "SUCCESS"
    SUCCESS_WITH_FAILURES = "SUCCESS_WITH_FAILURES"
    USER_CANCELED = "USER_CANCELED"
    CANCELED = "CANCELED"
    SKIPPED = "SKIPPED"
    DISABLED = "DISABLED"
    RUN_EXECUTION_ERROR = "RUN_EXECUTION_ERROR"
    RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
    INVALID_RUN_CONFIGURATION = "INVALID_RUN_CONFIGURATION"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    MAX_CONCURRENT_RUNS_EXCEEDED = "MAX_CONCURRENT_RUNS_EXCEEDED"


class TerminationType(StrEnum):
    SUCCESS = "SUCCESS"
    CLIENT_ERROR = "CLIENT_ERROR"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class RunType(StrEnum):
    JOB_RUN = "JOB_RUN"
    WORKFLOW_RUN = "WORKFLOW_RUN"
    SUBMIT_RUN = "SUBMIT_RUN"


class TriggerType(StrEnum):
    ONE_TIME = "ONE_TIME"
    PERIODIC = "PERIODIC"
    RETRY = "RETRY"
    RUN_JOB_TASK = "RUN_JOB_TASK"


class RunIf(StrEnum):
    ALL_SUCCESS = "ALL_SUCCESS"
    AT_LEAST_ONE_SUCCESS = "AT_LEAST_ONE_SUCCESS"
    NONE_FAILED = "NONE_FAILED"
    ALL_DONE = "ALL_DONE"
    AT_LEAST_ONE_FAILED = "AT_LEAST_ONE_FAILED"
    ALL_FAILED = "ALL_FAILED"


@dataclass(frozen=True)
class Termination:
    """How a run or task run ended: ``result_state`` plus ``status.termination_details``."""

    result_state: ResultState
    code: TerminationCode
    type: TerminationType
    message: str
    user_cancelled_or_timedout: bool = False


def status_state_for(life_cycle_state: LifeCycleState) -> StatusState:
    if life_cycle_state in TERMINAL_LIFE_CYCLE_STATES:
        return StatusState.TERMINATED
    if life_cycle_state is LifeCycleState.WAITING_FOR_RETRY:
        return StatusState.WAITING
    return StatusState(life_cycle_state.value)

"""How runs and task runs end: one constructor per way, so messages and codes agree."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._states import LifeCycleState, ResultState, Termination, TerminationCode, TerminationType
from ._time import now_ms

if TYPE_CHECKING:  # records import this module's neighbours; avoid a cycle at import time
    from ._records import RunRecord, TaskRunRecord


def succeeded() -> Termination:
    return Termination(ResultState.SUCCESS, TerminationCode.SUCCESS, TerminationType.SUCCESS, "")


def failed(
    message: str, code: TerminationCode = TerminationCode.RUN_EXECUTION_ERROR
) -> Termination:
    return Termination(ResultState.FAILED, code, TerminationType.CLIENT_ERROR, message)


def user_cancelled() -> Termination:
    return Termination(
        ResultState.CANCELED,
        TerminationCode.USER_CANCELED,
        TerminationType.SUCCESS,
        "Run cancelled.",
        user_cancelled_or_timedout=True,
    )


def task_timed_out(timeout_seconds: int) -> Termination:
    return Termination(
        ResultState.TIMEDOUT,
        TerminationCode.CANCELED,
        TerminationType.CLIENT_ERROR,
        f"Task timed out after {timeout_seconds} seconds (its timeout_seconds).",
        user_cancelled_or_timedout=True,
    )


def run_timed_out(timeout_seconds: int) -> Termination:
    return Termination(
        ResultState.TIMEDOUT,
        TerminationCode.CANCELED,
        TerminationType.CLIENT_ERROR,
        f"Run timed out after {timeout_seconds} seconds (the job's timeout_seconds).",
        user_cancelled_or_timedout=True,
    )


def parent_task_timed_out(task_key: str, timeout_seconds: int) -> Termination:
    """A run_job_task's child run, cancelled because that task timed out."""
    return Termination(
        ResultState.CANCELED,
        TerminationCode.CANCELED,
        TerminationType.CLIENT_ERROR,
        f"Cancelled: run_job_task {task_key} timed out after {timeout_seconds} seconds.",
        user_cancelled_or_timedout=True,
    )


def cancelled_by_run_end(run_stop: Termination) -> Termination:
    """A task that had not started when its run was cancelled or timed out."""
    return Termination(
        ResultState.CANCELED,
        run_stop.code,
        run_stop.type,
        run_stop.message,
        user_cancelled_or_timedout=True,
    )


def upstream_failed() -> Termination:
    return Termination(
        ResultState.UPSTREAM_FAILED,
        TerminationCode.SKIPPED,
        TerminationType.CLIENT_ERROR,
        "Upstream task(s) failed.",
    )


def upstream_cancelled() -> Termination:
    return Termination(
        ResultState.UPSTREAM_CANCELED,
        TerminationCode.SKIPPED,
        TerminationType.SUCCESS,
        "Upstream task(s) were cancelled.",
    )


def excluded() -> Termination:
    return Termination(
        ResultState.EXCLUDED,
        TerminationCode.SKIPPED,
        TerminationType.SUCCESS,
        "Excluded: the task's run_if condition was not met.",
    )


def disabled() -> Termination:
    return Termination(
        ResultState.DISABLED,
        TerminationCode.DISABLED,
        TerminationType.SUCCESS,
        "The task is disabled.",
    )


def concurrency_limit_reached(limit: int) -> Termination:
    return Termination(
        ResultState.MAXIMUM_CONCURRENT_RUNS_REACHED,
        TerminationCode.MAX_CONCURRENT_RUNS_EXCEEDED,
        TerminationType.CLIENT_ERROR,
        f"Skipping this run because the limit of {limit} maximum concurrent runs has been reached.",
    )


def end_interrupted(run: RunRecord, attempts: Iterable[TaskRunRecord]) -> None:
    """A run that was active when the backend stopped: its processes died with it."""
    now = now_ms()
    message = (
        "The local Databricks backend stopped while this run was active; its task "
        "processes were stopped."
    )
    ending = Termination(
        ResultState.FAILED, TerminationCode.INTERNAL_ERROR, TerminationType.INTERNAL_ERROR, message
    )
    for attempt in attempts:
        if attempt.termination is None:
            attempt.life_cycle_state = LifeCycleState.INTERNAL_ERROR
            attempt.termination = ending
            attempt.state_message = message
            attempt.end_time = now
    run.life_cycle_state = LifeCycleState.INTERNAL_ERROR
    run.termination = ending
    run.state_message = message
    run.queue_reason = None
    run.end_time = now
    if run.repair_history:
        latest = run.repair_history[-1]
        latest.end_time, latest.termination = now, ending
        latest.life_cycle_state = LifeCycleState.INTERNAL_ERROR

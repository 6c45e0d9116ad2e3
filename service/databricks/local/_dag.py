"""Pure decisions over a run's task graph: when a blocked task may run, and how a run ends.

``run_if`` (the Jobs API semantics): ALL_SUCCESS, AT_LEAST_ONE_SUCCESS and NONE_FAILED
mark an unmet task UPSTREAM_FAILED (UPSTREAM_CANCELED when an upstream was cancelled);
AT_LEAST_ONE_FAILED and ALL_FAILED mark it EXCLUDED, which counts as success. ALL_DONE
always runs.

A run's outcome is decided by its leaf tasks (tasks nothing depends on): every task
succeeded -> SUCCESS; some task failed but every leaf succeeded -> SUCCESS_WITH_FAILURES;
a leaf did not succeed -> FAILED, or TIMEDOUT when the only failures were timeouts.
A cancel or a run-level timeout overrides all of this (the scheduler passes it in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from ._states import (
    CANCELLED_RESULTS,
    SUCCESSFUL_RESULTS,
    ResultState,
    RunIf,
    Termination,
    TerminationCode,
    TerminationType,
)
from ._task_settings import TaskSpec


class BlockedTaskDecision(StrEnum):
    RUN = "RUN"
    UPSTREAM_FAILED = "UPSTREAM_FAILED"
    UPSTREAM_CANCELED = "UPSTREAM_CANCELED"
    EXCLUDED = "EXCLUDED"


def decide_blocked_task(run_if: RunIf, upstream: Sequence[ResultState]) -> BlockedTaskDecision:
    """Decide a task whose upstream tasks have all ended (``upstream`` = their results).

    A dependency on a condition task whose outcome was not the one asked for counts as
    EXCLUDED; a task whose dependencies were all excluded is excluded too, whatever its
    ``run_if`` (the Jobs API's rule, which is what turns off a whole if/else branch).
    """
    if upstream and all(result is ResultState.EXCLUDED for result in upstream):
        return BlockedTaskDecision.EXCLUDED
    succeeded = sum(1 for result in upstream if result in SUCCESSFUL_RESULTS)
    failed = len(upstream) - succeeded
    cancelled = any(result in CANCELLED_RESULTS for result in upstream)
    not_met = (
        BlockedTaskDecision.UPSTREAM_CANCELED if cancelled else BlockedTaskDecision.UPSTREAM_FAILED
    )
    if run_if is RunIf.ALL_DONE:
        return BlockedTaskDecision.RUN
    if run_if in (RunIf.ALL_SUCCESS, RunIf.NONE_FAILED):
        return BlockedTaskDecision.RUN if failed == 0 else not_met
    if run_if is RunIf.AT_LEAST_ONE_SUCCESS:
        return BlockedTaskDecision.RUN if succeeded > 0 or not upstream else not_met
    if run_if is RunIf.AT_LEAST_ONE_FAILED:
        return BlockedTaskDecision.RUN if failed > 0 else BlockedTaskDecision.EXCLUDED
    # ALL_FAILED
    return (
        BlockedTaskDecision.RUN
        if upstream and failed == len(upstream)
        else (BlockedTaskDecision.EXCLUDED)
    )


def leaf_task_keys(tasks: Sequence[TaskSpec]) -> list[str]:
    upstream_of_someone = {dep for task in tasks for dep in task.depends_on}
    return [task.task_key for task in tasks if task.task_key not in upstream_of_someone]


def decide_run_termination(
    tasks: Sequence[TaskSpec],
    results: Mapping[str, ResultState],
    messages: Mapping[str, str],
) -> Termination:
    """The outcome of a run whose tasks have all ended, from the leaf tasks' results."""
    order = [task.task_key for task in tasks]
    failed = [key for key in order if results[key] not in SUCCESSFUL_RESULTS]
    if not failed:
        return Termination(
            ResultState.SUCCESS, TerminationCode.SUCCESS, TerminationType.SUCCESS, ""
        )
    leaves_failed = [key for key in leaf_task_keys(tasks) if results[key] not in SUCCESSFUL_RESULTS]
    # The task that caused the failure: the first one that ran and failed, not a dependent.
    root_causes = [
        key
        for key in failed
        if results[key] not in (ResultState.UPSTREAM_FAILED, ResultState.UPSTREAM_CANCELED)
    ]
    cause = (root_causes or failed)[0]
    cause_message = messages.get(cause) or results[cause].value
    if not leaves_failed:
        return Termination(
            ResultState.SUCCESS_WITH_FAILURES,
            TerminationCode.SUCCESS_WITH_FAILURES,
            TerminationType.SUCCESS,
            f"Task {cause} failed ({cause_message}), but every leaf task succeeded.",
        )
    only_timeouts = all(results[key] is ResultState.TIMEDOUT for key in root_causes)
    result = ResultState.TIMEDOUT if root_causes and only_timeouts else ResultState.FAILED
    return Termination(
        result,
        TerminationCode.RUN_EXECUTION_ERROR,
        TerminationType.CLIENT_ERROR,
        f"Task {cause} failed with message: {cause_message}",
    )

"""The one mapping from Databricks run state to Lockgate's RunStatus."""

from __future__ import annotations

from service.store.models import RunStatus

_TERMINAL_LIFE_CYCLES = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})
_RUNNING_LIFE_CYCLES = frozenset({"RUNNING", "TERMINATING"})
_SUCCESS_RESULTS = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})
_SKIPPED_RESULTS = frozenset({"MAXIMUM_CONCURRENT_RUNS_REACHED", "EXCLUDED", "DISABLED"})
_CANCELED_RESULTS = frozenset({"CANCELED", "UPSTREAM_CANCELED"})
FAILED_TASK_RESULTS = frozenset({"FAILED", "TIMEDOUT", "INTERNAL_ERROR"})


def is_terminal(life_cycle_state: str | None) -> bool:
    return life_cycle_state in _TERMINAL_LIFE_CYCLES


def run_status(life_cycle_state: str | None, result_state: str | None) -> str:
    """Unknown states count as still pending: a new Databricks state must never break
    watching, and a run only ends on a life cycle state known to be terminal."""
    if life_cycle_state in _TERMINAL_LIFE_CYCLES:
        if result_state in _SUCCESS_RESULTS:
            return RunStatus.SUCCEEDED
        if result_state in _CANCELED_RESULTS:
            return RunStatus.CANCELED
        if life_cycle_state == "SKIPPED" or result_state in _SKIPPED_RESULTS:
            return RunStatus.SKIPPED
        return RunStatus.FAILED
    if life_cycle_state in _RUNNING_LIFE_CYCLES:
        return RunStatus.RUNNING
    return RunStatus.PENDING

"""The alert body every channel renders: built once, when the event is decided.

It carries what Databricks' own notification payload leaves out: the result state, the
failing tasks with their error text (from get-output, kept on ``TaskRun.error``), the
durations, the trigger that started the run and links to the run in Lockgate and in
Databricks. It is stored on each delivery row, so it is bounded: error text and the
number of listed tasks are capped (a 1,000-task run with stack traces must not make a
megabyte alert sent to every target).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from service.store.models import Run, TaskRun, TriggerEvent

MAX_ERROR_CHARS = 2_000
MAX_LISTED_TASKS = 50
_TRUNCATION_MARK = "… [truncated]"
FAILED_TASK_STATES = frozenset(
    {"FAILED", "TIMEDOUT", "INTERNAL_ERROR", "UPSTREAM_FAILED", "CANCELED", "UPSTREAM_CANCELED"}
)


def run_payload(
    *,
    event_type: str,
    occurred_at: datetime,
    run: Run,
    workflow_name: str,
    workflow_tags: Mapping[str, str],
    trigger: TriggerEvent | None,
    lockgate_base_url: str,
    detail: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    failed = failing_tasks(run.tasks)
    ended = run.ended_at
    return {
        "event_type": event_type,
        "occurred_at": occurred_at.isoformat(),
        "workflow": {"name": workflow_name, "tags": dict(workflow_tags)},
        "run": {
            "id": run.id,
            "attempt": run.attempt,
            "status": run.status,
            "life_cycle_state": run.life_cycle_state,
            "result_state": run.result_state or _state_for(event_type, run),
            "state_message": truncate(run.state_message),
            "databricks_run_id": run.databricks_run_id,
            "run_page_url": run.run_page_url,
            "lockgate_url": f"{lockgate_base_url.rstrip('/')}/api/v1/runs/{run.id}",
            "requested_at": iso_time(run.requested_at),
            "started_at": iso_time(run.started_at),
            "ended_at": iso_time(ended),
            "duration_seconds": seconds_between(run.started_at, ended or occurred_at),
            "parameters": dict(run.parameters or {}),
        },
        "trigger": _trigger(trigger, run.trigger_event_id),
        "failed_task_count": len(failed),
        "failed_tasks": [_task(task) for task in failed[:MAX_LISTED_TASKS]],
        "detail": dict(detail or {}),
    }


def event_payload(
    *,
    event_type: str,
    occurred_at: datetime,
    workflow_name: str | None,
    workflow_tags: Mapping[str, str],
    detail: Mapping[str, Any],
) -> dict[str, Any]:
    """For events without a run (trigger.rejected, expectation.missed)."""
    return {
        "event_type": event_type,
        "occurred_at": occurred_at.isoformat(),
        "workflow": {"name": workflow_name, "tags": dict(workflow_tags)},
        "run": None,
        "trigger": None,
        "failed_task_count": 0,
        "failed_tasks": [],
        "detail": {k: truncate(v) if isinstance(v, str) else v for k, v in detail.items()},
    }


def failing_tasks(tasks: Iterable[TaskRun]) -> list[TaskRun]:
    return [t for t in tasks if (t.result_state or "") in FAILED_TASK_STATES]


def truncate(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - len(_TRUNCATION_MARK)] + _TRUNCATION_MARK


def _state_for(event_type: str, run: Run) -> str:
    # Before a run ends there is no result state; say what is happening instead.
    return (run.life_cycle_state or run.status or event_type).upper()


def _task(task: TaskRun) -> dict[str, Any]:
    return {
        "task_key": task.task_key,
        "result_state": task.result_state,
        "error": truncate(task.error),
        "state_message": truncate(task.state_message),
        "attempt_number": task.attempt_number,
        "databricks_run_id": task.databricks_run_id,
        "started_at": iso_time(task.started_at),
        "ended_at": iso_time(task.ended_at),
        "duration_seconds": seconds_between(task.started_at, task.ended_at),
    }


def _trigger(trigger: TriggerEvent | None, event_id: str) -> dict[str, Any]:
    if trigger is None:
        return {"source": None, "name": None, "event_id": event_id}
    return {
        "source": trigger.source,
        "name": trigger.source_name,
        "event_id": trigger.id,
        "received_at": iso_time(trigger.received_at),
    }


def iso_time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)

"""The alert body for a run of a Databricks job that Lockgate did not start.

It has the shape of ``run_payload`` (so every renderer and every generic-webhook receiver
reads it the same way) with a ``job`` object beside ``workflow``: ``workflow.name`` is
None, ``run.id`` (a Lockgate run) is None and ``run.databricks_run_id`` names the run.
The facts come from the watcher's ``EndedRun`` (state, times, link) and, when it fetched
them, ``runs/get`` (the tasks) and ``get-output`` (the failed tasks' error text). The same
bounds as a workflow's alert apply: error text and listed tasks are capped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from service.alerts._content import (
    FAILED_TASK_STATES,
    MAX_LISTED_TASKS,
    iso_time,
    seconds_between,
    truncate,
)

if TYPE_CHECKING:
    from service.databricks.models import RunInfo, TaskRunInfo
    from service.workspace.ended_runs import EndedRun

# Lockgate's word for each ending, as ``run.status`` says it in a workflow's alert (a
# timed-out run is filed under failed there too).
_STATUS = {
    "run.succeeded": "succeeded",
    "run.failed": "failed",
    "run.timed_out": "failed",
    "run.canceled": "canceled",
    "run.skipped": "skipped",
}


def job_run_payload(
    *,
    event_type: str,
    occurred_at: datetime,
    ended: EndedRun,
    run: RunInfo | None,
    task_errors: Mapping[str, str],
) -> dict[str, Any]:
    job = ended.job
    failed = _failed_tasks(run, task_errors)
    started = ended.started_at or _time(run.start_time_ms if run else None)
    ended_at = ended.ended_at or _time(run.end_time_ms if run else None)
    return {
        "event_type": event_type,
        "occurred_at": occurred_at.isoformat(),
        "workflow": {"name": None, "tags": {}},
        "job": {
            "id": job.job_id if job else None,
            "name": job.name if job else None,
            "tags": dict(job.tags) if job else {},
            "workspace": ended.workspace,
        },
        "run": {
            "id": None,
            "attempt": None,
            "status": _STATUS.get(event_type, "failed"),
            "life_cycle_state": ended.life_cycle_state,
            "result_state": ended.result_state or ended.life_cycle_state,
            "termination_code": ended.termination_code,
            "state_message": truncate(ended.state_message or (run.state_message if run else "")),
            "databricks_run_id": ended.run_id,
            "repair_id": ended.repair_id,
            "run_name": ended.run_name,
            "run_page_url": ended.run_page_url or (run.run_page_url if run else None),
            "lockgate_url": None,
            "requested_at": None,
            "started_at": iso_time(started),
            "ended_at": iso_time(ended_at),
            "duration_seconds": seconds_between(started, ended_at),
            "parameters": _parameters(run),
        },
        "trigger": None,
        "failed_task_count": len(failed),
        "failed_tasks": failed[:MAX_LISTED_TASKS],
        "detail": {},
    }


def failing_task_keys(run: RunInfo | None, task_errors: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(task["task_key"] for task in _failed_tasks(run, task_errors))


def _failed_tasks(run: RunInfo | None, task_errors: Mapping[str, str]) -> list[dict[str, Any]]:
    latest = _latest_attempts(run.tasks if run else ())
    failed = [
        _task(task, task_errors.get(task.task_key))
        for task in latest.values()
        if task.result_state is not None and task.result_state in FAILED_TASK_STATES
    ]
    # An error for a task runs/get did not list (no runs/get answer at all, or a task
    # beyond its first page) is still worth telling.
    listed = {task["task_key"] for task in failed}
    failed += [
        _bare_task(key, error)
        for key, error in task_errors.items()
        if key not in listed and key not in latest
    ]
    return failed


def _latest_attempts(tasks: tuple[TaskRunInfo, ...]) -> dict[str, TaskRunInfo]:
    # runs/get lists every attempt of a retried task; the highest attempt is its outcome
    # (a task that failed once and then succeeded is not failing).
    latest: dict[str, TaskRunInfo] = {}
    for task in tasks:
        before = latest.get(task.task_key)
        if before is None or task.attempt_number >= before.attempt_number:
            latest[task.task_key] = task
    return latest


def _task(task: TaskRunInfo, error: str | None) -> dict[str, Any]:
    started, ended = _time(task.start_time_ms), _time(task.end_time_ms)
    return {
        "task_key": task.task_key,
        "result_state": str(task.result_state) if task.result_state else None,
        "error": truncate(error),
        "state_message": truncate(task.state_message or None),
        "attempt_number": task.attempt_number,
        "databricks_run_id": task.run_id or None,
        "started_at": iso_time(started),
        "ended_at": iso_time(ended),
        "duration_seconds": seconds_between(started, ended),
    }


def _bare_task(task_key: str, error: str) -> dict[str, Any]:
    return {
        "task_key": task_key,
        "result_state": "FAILED",
        "error": truncate(error),
        "state_message": None,
        "attempt_number": None,
        "databricks_run_id": None,
        "started_at": None,
        "ended_at": None,
        "duration_seconds": None,
    }


def _parameters(run: RunInfo | None) -> dict[str, Any]:
    # Job parameters as the run resolved them (``job_parameters``: name, default, value).
    found: dict[str, Any] = {}
    for item in (run.raw.get("job_parameters") if run else None) or ():
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            found[item["name"]] = item.get("value", item.get("default"))
    return found


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None

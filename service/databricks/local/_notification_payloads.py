"""The JSON body of a job webhook notification, in the shape Databricks documents.

A run's event::

    {"event_type": "jobs.on_failure", "workspace_id": "1234567890123456",
     "run": {"run_id": "7001"}, "job": {"job_id": "42", "name": "nightly"}}

A task's event names the task, and its run is the task run, under the job run::

    {"event_type": "jobs.on_failure", "workspace_id": "1234567890123456",
     "task": {"task_key": "load"}, "run": {"run_id": "7003", "parent_run_id": "7001"},
     "job": {"job_id": "42", "name": "nightly"}}

``event_type`` is ``jobs.on_start``, ``jobs.on_success``, ``jobs.on_failure`` or
``jobs.on_duration_warning_threshold_exceeded``. Ids are strings, as in the documented
examples. Nothing else: no result state, no error text, no run page URL, no signature
(a receiver reads the run through the API, and authenticates the sender by the
destination's Basic auth). A one-time run (runs/submit) belongs to no job here, so its
``job`` carries only the run name.
"""

from __future__ import annotations

from typing import Any

from ._webhook_settings import NotificationEvent


def run_event_payload(
    event: NotificationEvent,
    *,
    workspace_id: int,
    run_id: int,
    job_id: int | None,
    job_name: str,
) -> dict[str, Any]:
    return {
        "event_type": event.event_type,
        "workspace_id": str(workspace_id),
        "run": {"run_id": str(run_id)},
        "job": _job(job_id, job_name),
    }


def task_event_payload(
    event: NotificationEvent,
    *,
    workspace_id: int,
    task_key: str,
    task_run_id: int,
    parent_run_id: int,
    job_id: int | None,
    job_name: str,
) -> dict[str, Any]:
    return {
        "event_type": event.event_type,
        "workspace_id": str(workspace_id),
        "task": {"task_key": task_key},
        "run": {"run_id": str(task_run_id), "parent_run_id": str(parent_run_id)},
        "job": _job(job_id, job_name),
    }


def _job(job_id: int | None, name: str) -> dict[str, str]:
    return {"name": name} if job_id is None else {"job_id": str(job_id), "name": name}

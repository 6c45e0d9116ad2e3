"""The runs/submit body for a workflow run once, without a saved job (``mode: one_time``).

A one-time run takes the task graph inline. What a saved job shares between tasks is
spelled out per task: a ``job_cluster_key`` becomes that cluster's ``new_cluster``; the
run's parameters become notebook ``base_parameters`` (one-time runs have no job
parameters, so ``{{job.parameters.x}}`` references need a job-mode workflow).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# Job settings keys runs/submit also accepts.
_SUBMIT_KEYS = (
    "timeout_seconds",
    "environments",
    "git_source",
    "health",
    "email_notifications",
    "webhook_notifications",
    "notification_settings",
    "queue",
    "run_as",
    "budget_policy_id",
)
_MAX_SUBMIT_TAGS = 25


def one_time_payload(
    job_settings: Mapping[str, Any], parameters: Mapping[str, str]
) -> dict[str, Any]:
    settings = copy.deepcopy(dict(job_settings))
    clusters = {
        c.get("job_cluster_key"): c.get("new_cluster")
        for c in settings.get("job_clusters") or ()
        if isinstance(c, dict)
    }
    tasks = []
    for task in settings.get("tasks") or ():
        task = dict(task)
        key = task.pop("job_cluster_key", None)
        if key is not None and clusters.get(key) is not None:
            task["new_cluster"] = clusters[key]
        if "notebook_task" in task and parameters:
            notebook = dict(task["notebook_task"])
            notebook["base_parameters"] = {**(notebook.get("base_parameters") or {}), **parameters}
            task["notebook_task"] = notebook
        tasks.append(task)
    payload: dict[str, Any] = {"run_name": settings.get("name", "lockgate"), "tasks": tasks}
    for key in _SUBMIT_KEYS:
        if key in settings:
            payload[key] = settings[key]
    tags = settings.get("tags") or {}
    if tags:
        payload["tags"] = dict(list(tags.items())[:_MAX_SUBMIT_TAGS])
    return payload

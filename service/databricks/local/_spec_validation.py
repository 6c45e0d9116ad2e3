"""Job settings checked with Lockgate's spec model (``service.workflows.parse_job_settings``)
before the backend's own parse: dangling and cyclic dependencies, unknown dynamic value
references (``{{job.naem}}``), bad cron, limits ... reported at their JSON paths as one
400 INVALID_PARAMETER_VALUE, the way a workspace refuses a bad jobs/create.

The spec model describes what a *real workspace* accepts, a little more strictly than
this backend needs to; a copy of the settings is adjusted first so the backend still
takes what it deliberately allows: a job without a name (a workspace calls it
"Untitled"), tasks without compute (there are no clusters here), and a ``sql_task`` with
the local ``query.query_text`` instead of a saved ``query_id``. The settings stored are
the ones sent, unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from service.workflows import WorkflowInvalid, parse_job_settings

from ._errors import invalid_parameter

MAX_REPORTED = 20
# Task types that run on a cluster on a workspace (no compute is needed here).
_CLUSTER_TASKS = ("notebook_task", "spark_python_task", "spark_jar_task", "spark_submit_task")
_COMPUTE_KEYS = ("job_cluster_key", "existing_cluster_id", "new_cluster", "environment_key")
_LOCAL_CLUSTER = "local-backend"
_LOCAL_QUERY = "local-query-text"


def check_with_spec_model(settings: Mapping[str, Any], where: str = "") -> None:
    """Raise a 400 naming every problem the spec model finds in ``settings``."""
    try:
        parse_job_settings(_as_the_spec_model_expects(settings))
    except WorkflowInvalid as exc:
        problems = [
            f"{_at(issue.path, where)}: {issue.message}" for issue in exc.errors[:MAX_REPORTED]
        ]
        more = len(exc.errors) - MAX_REPORTED
        if more > 0:
            problems.append(f"... and {more} more")
        raise invalid_parameter("; ".join(problems)) from None


def _as_the_spec_model_expects(settings: Mapping[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(dict(settings))
    if not body.get("name"):
        body["name"] = "Untitled"
    tasks = body.get("tasks")
    for task in tasks if isinstance(tasks, list) else []:
        _adjust_task(task)
        inner = task.get("for_each_task") if isinstance(task, dict) else None
        if isinstance(inner, dict):
            _adjust_task(inner.get("task"))
    return body


def _adjust_task(task: Any) -> None:
    if not isinstance(task, dict):
        return
    needs_cluster = any(task.get(kind) is not None for kind in _CLUSTER_TASKS)
    if needs_cluster and not any(task.get(key) for key in _COMPUTE_KEYS):
        task["existing_cluster_id"] = _LOCAL_CLUSTER
    sql = task.get("sql_task")
    query = sql.get("query") if isinstance(sql, dict) else None
    if isinstance(query, dict) and query.get("query_text") and not query.get("query_id"):
        query.pop("query_text")
        query["query_id"] = _LOCAL_QUERY


def _at(path: str, where: str) -> str:
    """``$.tasks[0].x`` -> ``tasks[0].x`` (or ``new_settings.tasks[0].x``)."""
    relative = path.removeprefix("$").lstrip(".")
    if where:
        return f"{where}.{relative}" if relative else where
    return relative or "request body"

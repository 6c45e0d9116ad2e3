"""Reading Databricks Jobs JSON (a jobs/create body, 2.1 or 2.2, or a jobs/get response)
into a ``WorkflowDefinition``, unchanged apart from what must change:

- legacy dynamic value references and 5-field Unix cron get today's form, with a warning;
- ``email_notifications`` on start/success/failure become Lockgate's alert routes (Lockgate
  watches every run and sends them itself; sent to Databricks as well, people would get
  every alert twice). ``export_job_settings`` puts them back;
- the job is tagged with its workflow name, so a job whose jobs/create response was lost
  can be found again.

Everything else, including keys this module does not know, is sent as written.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from service.workflows._cron import to_quartz
from service.workflows._definition import (
    ROUTE_EVENTS,
    RouteTable,
    SourceFormat,
    WorkflowDefinition,
    empty_routes,
    routes_from,
)
from service.workflows._issues import Loc, SpecIssue, WorkflowInvalid, issue, sorted_by_path
from service.workflows._jobs_checks import check_job_settings
from service.workflows._seed_checks import WORKFLOW_TAG
from service.workflows._seed_models import MAX_NAME_LENGTH
from service.workflows._text_checks import rewrite_strings
from service.workflows.completion import (
    declare_upstream_parameters,
    read_job_completion,
    take_job_completion,
)

# What jobs/get returns around the settings; none of it is a setting.
_READ_ONLY = frozenset(
    {
        "job_id",
        "created_time",
        "creator_user_name",
        "run_as_user_name",
        "run_as_owner",
        "effective_budget_policy_id",
        "has_more",
        "next_page_token",
        "trigger_state",
    }
)
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def parse_job_settings(settings: Mapping[str, Any]) -> WorkflowDefinition:
    """Checks Databricks Jobs JSON (jobs/create body or jobs/get response); raises
    ``WorkflowInvalid`` with every problem at its JSON path."""
    if not isinstance(settings, Mapping):
        raise WorkflowInvalid([SpecIssue("$", "the job settings must be a mapping")])
    document = copy.deepcopy(dict(settings))
    _refuse_partial_page(document)
    root: Loc = ()
    body: Any = document
    if isinstance(document.get("settings"), Mapping):
        root, body = ("settings",), document["settings"]
    return definition_from_settings(body, root, source=document, format="jobs")


def _refuse_partial_page(document: Mapping[str, Any]) -> None:
    """jobs/get 2.2 returns at most 100 tasks (and job clusters, parameters) per page and
    says ``has_more``; read as it is, the first page would become a job missing the rest,
    with its dependencies on them reported as dangling. Refused, saying how to get all."""
    more = document.get("has_more") is True
    token = document.get("next_page_token")
    if not more and not token:
        return
    raise WorkflowInvalid(
        [
            issue(
                ("has_more",) if more else ("next_page_token",),
                "this jobs/get response is only the first page of the job (API 2.2 returns "
                "tasks, job clusters and parameters 100 at a time); fetch the other pages "
                "with page_token and merge their lists into this one, or read the job with "
                "jobs/get of API 2.1, which returns them all",
            )
        ]
    )


def definition_from_settings(
    settings: Mapping[str, Any],
    root: Loc,
    *,
    source: dict[str, Any],
    format: SourceFormat,
    fallback_name: str | None = None,
) -> WorkflowDefinition:
    """Shared by Jobs JSON and bundle jobs: ``settings`` sits at ``root`` in ``source``."""
    warnings: list[SpecIssue] = []
    body = {key: value for key, value in settings.items() if key not in _READ_ONLY}
    for key in ("tasks", "parameters", "trigger"):
        if key in body:
            body[key], notes = rewrite_strings(body[key], (*root, key))
            warnings += notes
    _convert_unix_cron(body, root, warnings)
    found = check_job_settings(body, root)
    completion, completion_errors = read_job_completion(body.get("trigger"), (*root, "trigger"))
    found.errors += completion_errors
    name = _workflow_name(body, root, fallback_name, found.errors, warnings)
    if found.errors or name is None:
        raise WorkflowInvalid(sorted_by_path(found.errors))
    if completion is not None:
        take_job_completion(body)
        declare_upstream_parameters(body)
    warnings += found.warnings
    email_routes = _take_email_routes(body)
    task_routes: dict[str, tuple[RouteTable, RouteTable]] = {}
    for task in _all_tasks(body):
        routes = _take_email_routes(task)
        if any(routes.values()):
            task_routes[str(task["task_key"])] = (routes, empty_routes())
    body.setdefault("name", name)
    body["tags"] = {**body.get("tags", {}), WORKFLOW_TAG: name}
    return WorkflowDefinition(
        name=name,
        source=source,
        warnings=tuple(sorted_by_path(warnings)),
        task_keys=tuple(str(task["task_key"]) for task in body.get("tasks", [])),
        job_parameter_names=tuple(str(p["name"]) for p in body.get("parameters", [])),
        format=format,
        job_completion=completion,
        _job_settings=body,
        _email_routes=email_routes,
        _task_routes=task_routes,
    )


def _convert_unix_cron(body: dict[str, Any], root: Loc, warnings: list[SpecIssue]) -> None:
    schedule = body.get("schedule")
    if not isinstance(schedule, dict):
        return
    expression = schedule.get("quartz_cron_expression")
    if not isinstance(expression, str):
        return
    try:
        quartz, converted = to_quartz(expression)
    except ValueError:
        return  # reported by the schedule model, naming the field
    if converted:
        body["schedule"] = {**schedule, "quartz_cron_expression": quartz}
        warnings.append(
            issue(
                (*root, "schedule", "quartz_cron_expression"),
                f"`{expression}` is Unix cron; Databricks takes Quartz, so it is sent as "
                f"`{quartz}` (write that to silence this warning)",
            )
        )


def _workflow_name(
    body: Mapping[str, Any],
    root: Loc,
    fallback: str | None,
    errors: list[SpecIssue],
    warnings: list[SpecIssue],
) -> str | None:
    """The tag Lockgate set on export wins, then the job's name, then the bundle key.
    A job name that cannot be a URL segment ("Daily ETL") becomes a slug, with a warning."""
    tags = body.get("tags")
    tagged = tags.get(WORKFLOW_TAG) if isinstance(tags, Mapping) else None
    if isinstance(tagged, str) and _NAME.match(tagged) and set(tagged) != {"."}:
        return tagged
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        if fallback is not None:
            name = fallback
        else:
            errors.append(issue((*root, "name"), "`name` is required: name the job"))
            return None
    if _NAME.match(name) and set(name) != {"."}:
        return name
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:MAX_NAME_LENGTH] or "job"
    warnings.append(
        issue(
            (*root, "name"),
            f"{name!r} cannot name a Lockgate workflow (it appears in URLs); the workflow is "
            f"{slug!r} and the Databricks job keeps its name",
        )
    )
    return slug


def _take_email_routes(target: dict[str, Any]) -> RouteTable:
    notifications = target.get("email_notifications")
    if not isinstance(notifications, dict):
        return empty_routes()
    routes = routes_from(notifications)
    rest = {key: value for key, value in notifications.items() if key not in ROUTE_EVENTS}
    if rest:
        target["email_notifications"] = rest
    else:
        del target["email_notifications"]
    return routes


def _all_tasks(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    tasks = [task for task in body.get("tasks", []) if isinstance(task, dict)]
    return tasks + [
        task["for_each_task"]["task"]
        for task in tasks
        if isinstance(task.get("for_each_task"), dict)
        and isinstance(task["for_each_task"].get("task"), dict)
    ]

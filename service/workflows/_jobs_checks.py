"""Checking Databricks Jobs settings: every field by its model, then the rules that span
fields and tasks (one task type, one compute, references between tasks, cycles, limits).

Everything is reported at its JSON path under ``root`` (``$.settings.tasks[2]`` for a
jobs/get response, ``$.resources.jobs.etl.tasks[2]`` in a bundle), all problems at once.
Errors are what Databricks would refuse or Lockgate cannot run; warnings are what
Databricks accepts but is likely a mistake. Task-level rules are in ``_jobs_task_checks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter

from service.workflows import _jobs_models as m
from service.workflows._issues import Loc, issue
from service.workflows._jobs_task_checks import (
    HINTS,
    JobsCheck,
    all_tasks,
    check_dependencies,
    check_job_clusters,
    check_size,
    check_task,
)
from service.workflows._pydantic_issues import validate_at
from service.workflows._seed_checks import MAX_JOB_TAGS, WORKFLOW_TAG, mapping_entries
from service.workflows._spec_limits import MAX_TASKS
from service.workflows._text_checks import check_strings, unknown_keys
from service.workflows.completion import trigger_kinds_issue

_SETTINGS = TypeAdapter(m.JobSettingsModel)


def check_job_settings(settings: Mapping[str, Any], root: Loc) -> JobsCheck:
    found = JobsCheck()
    _, errors = validate_at(_SETTINGS, settings, root, missing_hints=HINTS)
    found.errors += errors
    # `lockgate` (Lockgate's run options) is read by the run engine, which checks it.
    found.warnings += unknown_keys(settings, root, m.JobSettingsModel, extra_known=("lockgate",))
    _check_top_level(settings, root, found)
    clusters = dict(check_job_clusters(settings.get("job_clusters"), root, found))
    environments = {
        env.get("environment_key")
        for _, env in mapping_entries(settings.get("environments"), "environments")
    }
    tasks = list(mapping_entries(settings.get("tasks"), "tasks"))
    if settings.get("tasks") in (None, []):
        found.errors.append(
            issue((*root, "tasks"), "the job has no tasks; add at least one under `tasks`")
        )
    if len(tasks) > MAX_TASKS:
        found.errors.append(
            issue((*root, "tasks"), f"has {len(tasks)} tasks; Databricks allows {MAX_TASKS}")
        )
    task_types: dict[str, str | None] = {}
    first: dict[str, Loc] = {}
    for loc, task in tasks:
        at = (*root, *loc)
        task_types.setdefault(
            str(task.get("task_key")),
            check_task(task, at, clusters, environments, settings, found, inside=False),
        )
        key = task.get("task_key")
        if isinstance(key, str) and key:
            if key in first:
                found.errors.append(
                    issue(
                        (*at, "task_key"),
                        f"duplicate task_key {key!r}: tasks[{first[key][-1]}] already uses it; "
                        "each must be unique",
                    )
                )
            else:
                first[key] = at
    check_dependencies(tasks, root, first, task_types, found)
    for key, loc in clusters.items():
        if not any(task.get("job_cluster_key") == key for _, task in all_tasks(tasks)):
            found.warnings.append(
                issue((*loc, "job_cluster_key"), f"job cluster {key!r} is not used by any task")
            )
    parameters = {
        p.get("name") for _, p in mapping_entries(settings.get("parameters"), "parameters")
    }
    _check_reference_text(settings, root, set(first), parameters, found)
    return found


def _check_top_level(settings: Mapping[str, Any], root: Loc, found: JobsCheck) -> None:
    for key, model in (
        ("email_notifications", m.NotificationRoutes),
        ("webhook_notifications", m.WebhookDestinations),
        ("schedule", m.Schedule),
        ("trigger", m.Trigger),
        ("queue", m.Queue),
        ("git_source", m.GitSource),
    ):
        if isinstance(settings.get(key), dict):
            found.warnings += unknown_keys(settings[key], (*root, key), model)
    tags = settings.get("tags")
    if isinstance(tags, dict):
        user_tags = len(tags) - (WORKFLOW_TAG in tags)
        if user_tags > MAX_JOB_TAGS - 1:
            found.errors.append(
                issue(
                    (*root, "tags"),
                    f"has {user_tags} tags; Databricks allows {MAX_JOB_TAGS} per job and "
                    f"Lockgate adds `{WORKFLOW_TAG}`, so keep at most {MAX_JOB_TAGS - 1}",
                )
            )
    check_size(settings.get("parameters"), (*root, "parameters"), "job parameters", found)
    trigger = settings.get("trigger")
    if isinstance(trigger, dict):
        kinds_issue = trigger_kinds_issue(trigger, (*root, "trigger"))
        if kinds_issue is not None:
            found.errors.append(kinds_issue)
    if settings.get("schedule") is not None and settings.get("continuous") is not None:
        found.errors.append(
            issue((*root, "continuous"), "a job runs on a schedule or continuously, not both")
        )
    run_as = settings.get("run_as")
    if isinstance(run_as, dict) and len([v for v in run_as.values() if v]) != 1:
        found.errors.append(
            issue(
                (*root, "run_as"),
                "needs exactly one of user_name, service_principal_name or group_name",
            )
        )
    if settings.get("max_concurrent_runs") == 0:
        found.warnings.append(
            issue((*root, "max_concurrent_runs"), "is 0, so Databricks skips every new run")
        )
    schedule = settings.get("schedule")
    if isinstance(schedule, dict) and schedule.get("pause_status") == "PAUSED":
        found.warnings.append(
            issue((*root, "schedule", "pause_status"), "is PAUSED: the schedule will not fire")
        )


def _check_reference_text(
    settings: Mapping[str, Any],
    root: Loc,
    task_keys: set[str],
    parameters: set[Any],
    found: JobsCheck,
) -> None:
    known_parameters = frozenset(p for p in parameters if isinstance(p, str))
    for loc, task in mapping_entries(settings.get("tasks"), "tasks"):
        errors, warnings = check_strings(
            task,
            (*root, *loc),
            task_keys=frozenset(task_keys),
            job_parameters=known_parameters or None,
            for_each_key="for_each_task",
        )
        found.errors += errors
        found.warnings += warnings
    for key in ("parameters", "trigger"):
        errors, warnings = check_strings(
            settings.get(key), (*root, key), task_keys=frozenset(task_keys), job_parameters=None
        )
        found.errors += errors
        found.warnings += warnings

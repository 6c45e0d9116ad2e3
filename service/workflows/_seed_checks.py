"""Checks that span the whole seed document: references between tasks and clusters,
cycles, uniqueness, the tag budget, and unknown keys (warnings).

These read the raw document defensively (a value of the wrong type is skipped here; the
models report it), so they run even when the models found type errors and every
problem is reported in one go.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from service.workflows._dag import find_cycles
from service.workflows._issues import Loc, SpecIssue, issue
from service.workflows._seed_models import (
    TASK_TYPES,
    EmailRoutes,
    SeedJobCluster,
    SeedJobParameter,
    SeedSchedule,
    SeedTask,
    SeedWorkflow,
    WebhookRoutes,
)

# Lockgate tags every job with its workflow's name, so a job whose jobs/create response
# was lost can be found again by tag before creating it a second time.
WORKFLOW_TAG = "lockgate_workflow"
MAX_JOB_TAGS = 25  # Databricks' limit per job

_COMPUTE_KEYS = ("job_cluster_key", "existing_cluster_id", "new_cluster")
_COMMON_TASK_FIELDS = frozenset(SeedTask.model_fields)
_FIELDS_BY_TYPE = {name: frozenset(model.model_fields) for name, model in TASK_TYPES.items()}
_ALL_TYPE_FIELDS = frozenset().union(*_FIELDS_BY_TYPE.values())


def check_references(document: Mapping[str, Any]) -> tuple[list[SpecIssue], list[SpecIssue]]:
    """Returns (errors, warnings) about how the parts of the document refer to each other."""
    errors: list[SpecIssue] = []
    warnings: list[SpecIssue] = []
    tasks = list(mapping_entries(document.get("tasks"), "tasks"))
    if document.get("tasks", []) == []:  # a null or a non-list is a type error, from the model
        errors.append(
            issue(("tasks",), "the workflow has no tasks; add at least one under `tasks`")
        )
    task_index = _unique_keys(tasks, "task_key", "task_key", errors)
    _check_dependencies(tasks, task_index, errors, warnings)
    clusters = list(mapping_entries(document.get("job_clusters"), "job_clusters"))
    cluster_index = _unique_keys(clusters, "cluster_key", "job cluster key", errors)
    _check_compute(tasks, cluster_index, errors, warnings)
    _unique_keys(
        list(mapping_entries(document.get("parameters"), "parameters")),
        "name",
        "job parameter name",
        errors,
    )
    _check_tags(document.get("tags"), errors)
    return errors, warnings


def unknown_key_warnings(document: Mapping[str, Any]) -> list[SpecIssue]:
    """Keys the seed format does not read: ignored, with a warning naming each one."""
    warnings = _unknown_keys(document, (), SeedWorkflow)
    for key, model in (
        ("schedule", SeedSchedule),
        ("notifications", EmailRoutes),
        ("webhooks", WebhookRoutes),
    ):
        if isinstance(document.get(key), dict):
            warnings += _unknown_keys(document[key], (key,), model)
    for loc, cluster in mapping_entries(document.get("job_clusters"), "job_clusters"):
        warnings += _unknown_keys(cluster, loc, SeedJobCluster)
    for loc, parameter in mapping_entries(document.get("parameters"), "parameters"):
        warnings += _unknown_keys(parameter, loc, SeedJobParameter)
    for loc, task in mapping_entries(document.get("tasks"), "tasks"):
        warnings += _unknown_task_keys(task, loc)
        for key, model in (
            ("email_notifications", EmailRoutes),
            ("webhook_notifications", WebhookRoutes),
        ):
            if isinstance(task.get(key), dict):
                warnings += _unknown_keys(task[key], (*loc, key), model)
    return warnings


def mapping_entries(value: Any, key: str) -> Iterator[tuple[Loc, dict[str, Any]]]:
    """The mapping entries of the list ``value`` found under ``key``, with their location.
    Other entries are skipped: the workflow model reports them as type errors."""
    if isinstance(value, list):
        for position, item in enumerate(value):
            if isinstance(item, dict):
                yield (key, position), item


def _unique_keys(
    entries: list[tuple[Loc, dict[str, Any]]], field: str, what: str, errors: list[SpecIssue]
) -> dict[str, Loc]:
    """Maps each key to the entry that first used it; later uses are errors."""
    first: dict[str, Loc] = {}
    for loc, entry in entries:
        key = entry.get(field)
        if not isinstance(key, str) or not key:
            continue
        if key in first:
            errors.append(
                issue(
                    (*loc, field),
                    f"duplicate {what} {key!r}: {_describe(first[key])} already uses it; "
                    "each must be unique",
                )
            )
        else:
            first[key] = loc
    return first


def _check_dependencies(
    tasks: list[tuple[Loc, dict[str, Any]]],
    task_index: dict[str, Loc],
    errors: list[SpecIssue],
    warnings: list[SpecIssue],
) -> None:
    edges: dict[str, list[str]] = {key: [] for key in task_index}
    positions: dict[tuple[str, str], int] = {}  # (task, dependency) -> index in depends_on
    for loc, task in tasks:
        key = task.get("task_key")
        depends_on = task.get("depends_on")
        if not isinstance(depends_on, list):
            continue
        owner = key if isinstance(key, str) and task_index.get(key) == loc else None
        seen: set[str] = set()
        for position, dependency in enumerate(depends_on):
            if not isinstance(dependency, str) or not dependency:
                continue
            dep_loc = (*loc, "depends_on", position)
            if dependency == key:
                errors.append(issue(dep_loc, f"task {key!r} cannot depend on itself"))
            elif dependency not in task_index:
                errors.append(
                    issue(
                        dep_loc,
                        f"names task {dependency!r}, which is not in this workflow"
                        + _suggestion(dependency, task_index),
                    )
                )
            elif dependency in seen:
                warnings.append(
                    issue(dep_loc, f"lists {dependency!r} twice; the repeat is ignored")
                )
            elif owner is not None:
                edges[owner].append(dependency)
                positions[owner, dependency] = position
            seen.add(dependency)
    for cycle in find_cycles(edges):
        first, second = cycle[0], cycle[1]
        errors.append(
            issue(
                (*task_index[first], "depends_on", positions[first, second]),
                f"depends_on forms a cycle: {' -> '.join(cycle)} (each task waits for the "
                "next, so none can start); remove one of these dependencies",
            )
        )


def _check_compute(
    tasks: list[tuple[Loc, dict[str, Any]]],
    cluster_index: dict[str, Loc],
    errors: list[SpecIssue],
    warnings: list[SpecIssue],
) -> None:
    used: set[str] = set()
    for loc, task in tasks:
        given = [key for key in _COMPUTE_KEYS if task.get(key) is not None]
        for ignored in given[1:]:
            # The seed took the first of these and dropped the rest without a word.
            warnings.append(
                issue(
                    (*loc, ignored),
                    f"is ignored because `{given[0]}` is set; give each task one kind of compute",
                )
            )
        cluster_key = task.get("job_cluster_key")
        if not isinstance(cluster_key, str) or not cluster_key:
            continue
        used.add(cluster_key)
        if cluster_key not in cluster_index:
            hint = _suggestion(cluster_key, cluster_index) or (
                f" (defined: {', '.join(repr(key) for key in cluster_index) or 'none'})"
            )
            errors.append(
                issue(
                    (*loc, "job_cluster_key"),
                    f"names job cluster {cluster_key!r}, which is not defined under "
                    f"job_clusters{hint}",
                )
            )
    for key, loc in cluster_index.items():
        if key not in used:
            warnings.append(
                issue((*loc, "cluster_key"), f"job cluster {key!r} is not used by any task")
            )


def _check_tags(tags: Any, errors: list[SpecIssue]) -> None:
    if not isinstance(tags, dict):
        return
    if WORKFLOW_TAG in tags:
        errors.append(
            issue(
                ("tags", WORKFLOW_TAG),
                "is set by Lockgate to the workflow's name (to find its job again); remove it",
            )
        )
    user_tags = len(tags) - (WORKFLOW_TAG in tags)
    if user_tags > MAX_JOB_TAGS - 1:
        errors.append(
            issue(
                ("tags",),
                f"has {user_tags} tags; Databricks allows {MAX_JOB_TAGS} per job and Lockgate "
                f"adds `{WORKFLOW_TAG}`, so keep at most {MAX_JOB_TAGS - 1}",
            )
        )


def _unknown_keys(value: Mapping[Any, Any], loc: Loc, model: type[BaseModel]) -> list[SpecIssue]:
    known = list(model.model_fields)
    return [
        issue((*loc, str(key)), f"unknown key {key!r} is ignored" + _suggestion(str(key), known))
        for key in value
        if key not in model.model_fields
    ]


def _unknown_task_keys(task: dict[Any, Any], loc: Loc) -> list[SpecIssue]:
    task_type = task.get("type")
    own = (
        _FIELDS_BY_TYPE.get(task_type, _ALL_TYPE_FIELDS)
        if isinstance(task_type, str)
        else _ALL_TYPE_FIELDS
    )
    known = _COMMON_TASK_FIELDS | own
    warnings = []
    for key in task:
        if key in known:
            continue
        if key in _ALL_TYPE_FIELDS:
            message = f"`{key}` is not used by {task_type} tasks and is ignored"
        else:
            message = f"unknown key {key!r} is ignored" + _suggestion(str(key), sorted(known))
        warnings.append(issue((*loc, str(key)), message))
    return warnings


def _suggestion(name: str, candidates: Any) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _describe(loc: Loc) -> str:
    key, position = loc[0], loc[1]
    return f"{key}[{position}]"

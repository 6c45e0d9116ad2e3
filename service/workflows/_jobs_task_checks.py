"""Checking the tasks and clusters of Databricks Jobs settings: each task's fields by
its model, one task type, one compute, dependencies between tasks (dangling, self,
``outcome``, cycles), for-each nesting, and cluster sizing.

Each function appends to a ``JobsCheck`` (errors and warnings at their JSON paths), so
one bad task never hides the problems of the others.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from service.workflows import _jobs_models as m
from service.workflows._dag import find_cycles
from service.workflows._issues import Loc, SpecIssue, issue
from service.workflows._pydantic_issues import validate_at
from service.workflows._seed_checks import mapping_entries
from service.workflows._spec_limits import MAX_PARAMETER_BYTES
from service.workflows._text_checks import suggestion, unknown_keys

_COMPUTE = ("job_cluster_key", "existing_cluster_id", "new_cluster", "environment_key")
# Task types that run on no cluster of the job's: a cluster given to them is a mistake.
_NO_COMPUTE = ("condition_task", "run_job_task", "pipeline_task", "for_each_task", "sql_task")
# Task types that cannot run serverless: a cluster is required.
_NEEDS_CLUSTER = ("spark_jar_task", "spark_submit_task")
_NUMERIC_OPS = ("GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL")
_TASK = TypeAdapter(m.TaskCommon)
_JOB_CLUSTER = TypeAdapter(m.JobCluster)
_CLUSTER = TypeAdapter(m.ClusterSpec)
_TYPE_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    key: TypeAdapter(model) for key, model in m.TASK_TYPE_MODELS.items()
}
HINTS = {
    "task_key": "give the task a unique name of letters, digits, - and _",
    "notebook_path": "the workspace path of the notebook to run",
    "python_file": "the path of the Python file to run",
    "quartz_cron_expression": "a Quartz cron expression such as `0 0 2 * * ?`",
    "timezone_id": "a Java time zone id such as UTC or Europe/Amsterdam",
    "warehouse_id": "the id of the SQL warehouse to run on",
    "op": "one of EQUAL_TO, NOT_EQUAL, GREATER_THAN, GREATER_THAN_OR_EQUAL, LESS_THAN, "
    "LESS_THAN_OR_EQUAL",
    "inputs": "a JSON array (as text) or a reference such as `{{tasks.list.values.items}}`",
}


@dataclass
class JobsCheck:
    errors: list[SpecIssue] = field(default_factory=list)
    warnings: list[SpecIssue] = field(default_factory=list)


def check_job_clusters(value: Any, root: Loc, found: JobsCheck) -> list[tuple[str, Loc]]:
    keys: list[tuple[str, Loc]] = []
    seen: set[str] = set()
    for loc, cluster in mapping_entries(value, "job_clusters"):
        at = (*root, *loc)
        _, errors = validate_at(_JOB_CLUSTER, cluster, at)
        found.errors += errors
        found.warnings += unknown_keys(cluster, at, m.JobCluster)
        if isinstance(cluster.get("new_cluster"), dict):
            _check_cluster(cluster["new_cluster"], (*at, "new_cluster"), found)
        key = cluster.get("job_cluster_key")
        if isinstance(key, str) and key:
            if key in seen:
                found.errors.append(
                    issue((*at, "job_cluster_key"), f"duplicate job_cluster_key {key!r}")
                )
            else:
                seen.add(key)
                keys.append((key, at))
    return keys


def _check_cluster(cluster: Mapping[str, Any], at: Loc, found: JobsCheck) -> None:
    spec, errors = validate_at(_CLUSTER, cluster, at)
    found.errors += errors
    found.warnings += unknown_keys(cluster, at, m.ClusterSpec)
    if spec is None:
        return
    if spec.autoscale is not None and spec.num_workers is not None:
        found.errors.append(
            issue(
                (*at, "num_workers"),
                "cannot be set together with autoscale; give a fixed num_workers or an "
                "autoscale range, not both",
            )
        )
    if spec.autoscale is not None and spec.autoscale.min_workers > spec.autoscale.max_workers:
        found.errors.append(
            issue(
                (*at, "autoscale", "max_workers"),
                f"must be at least min_workers ({spec.autoscale.min_workers}), "
                f"not {spec.autoscale.max_workers}",
            )
        )
    if spec.spark_version is None and spec.policy_id is None:
        found.errors.append(
            issue((*at, "spark_version"), "`spark_version` is required (e.g. 15.4.x-scala2.12)")
        )
    if spec.node_type_id is None and spec.instance_pool_id is None and spec.policy_id is None:
        found.errors.append(
            issue(
                (*at, "node_type_id"),
                "a cluster needs `node_type_id` (e.g. Standard_DS3_v2) or `instance_pool_id`",
            )
        )


def check_task(
    task: Mapping[str, Any],
    at: Loc,
    clusters: Mapping[str, Loc],
    environments: set[Any],
    settings: Mapping[str, Any],
    found: JobsCheck,
    *,
    inside: bool,
) -> str | None:
    """Checks one task; returns its type key (``notebook_task``...) when it has one."""
    common, errors = validate_at(_TASK, task, at, missing_hints=HINTS)
    found.errors += errors
    known = set(m.TaskCommon.model_fields) | set(m.TASK_TYPE_MODELS)
    found.warnings += unknown_keys(task, at, m.TaskCommon, extra_known=known)
    types = [key for key in m.TASK_TYPE_MODELS if key in task]
    if not types:
        found.errors.append(
            issue(
                at,
                "the task has no task type; give one of " + ", ".join(m.TASK_TYPE_MODELS),
            )
        )
        return None
    for extra in types[1:]:
        found.errors.append(
            issue(
                (*at, extra),
                f"a task has exactly one type; this one already has `{types[0]}`",
            )
        )
    kind = types[0]
    body = task[kind]
    _, errors = validate_at(_TYPE_ADAPTERS[kind], body, (*at, kind), missing_hints=HINTS)
    found.errors += errors
    if isinstance(body, dict):
        found.warnings += unknown_keys(body, (*at, kind), m.TASK_TYPE_MODELS[kind])
        _check_task_body(kind, body, (*at, kind), settings, found)
        if kind == "for_each_task":
            _check_for_each(body, (*at, kind), clusters, environments, settings, found, inside)
    _check_compute(task, kind, at, clusters, environments, found)
    if isinstance(task.get("new_cluster"), dict):
        _check_cluster(task["new_cluster"], (*at, "new_cluster"), found)
    for loc, library in mapping_entries(task.get("libraries"), "libraries"):
        given = [k for k, v in library.items() if v is not None]
        if len(given) != 1:
            found.errors.append(
                issue(
                    (*at, *loc),
                    "a library is exactly one of pypi, maven, cran, jar, whl, egg or requirements",
                )
            )
    if common is not None:
        if common.retry_on_timeout and common.timeout_seconds in (None, 0):
            found.warnings.append(
                issue((*at, "retry_on_timeout"), "has no effect: the task has no timeout_seconds")
            )
        if common.max_retries == -1:
            found.warnings.append(
                issue((*at, "max_retries"), "is -1: a failing task is retried forever")
            )
        if common.run_if not in (None, "ALL_SUCCESS") and not common.depends_on:
            found.warnings.append(
                issue((*at, "run_if"), "has no effect on a task without depends_on")
            )
    return kind


def _check_task_body(
    kind: str, body: Mapping[str, Any], at: Loc, settings: Mapping[str, Any], found: JobsCheck
) -> None:
    for name in ("base_parameters", "parameters", "named_parameters", "job_parameters"):
        check_size(body.get(name), (*at, name), "task parameters", found)
    source = body.get("source")
    has_git = isinstance(settings.get("git_source"), dict)
    if kind == "notebook_task" and isinstance(body.get("notebook_path"), str):
        in_workspace = source == "WORKSPACE" or (source is None and not has_git)
        if in_workspace and not body["notebook_path"].startswith("/"):
            found.errors.append(
                issue(
                    (*at, "notebook_path"),
                    f"{body['notebook_path']!r} must be an absolute workspace path starting "
                    "with / (or set source: GIT with a git_source for a repository path)",
                )
            )
    if source == "GIT" and not has_git:
        found.errors.append(
            issue((*at, "source"), "is GIT but the job has no git_source to read it from")
        )
    if kind == "sql_task":
        chosen = [k for k in ("query", "file", "alert", "dashboard") if body.get(k) is not None]
        if len(chosen) != 1:
            found.errors.append(
                issue(
                    at,
                    "a sql_task runs exactly one of query (a saved query_id), file, alert or "
                    "dashboard" + (f", not {', '.join(chosen)}" if chosen else ""),
                )
            )
    if kind == "condition_task":
        op = body.get("op")
        if op in _NUMERIC_OPS:
            for side in ("left", "right"):
                value = body.get(side)
                if isinstance(value, str) and "{{" not in value and not _is_number(value):
                    found.warnings.append(
                        issue(
                            (*at, side),
                            f"{value!r} is not a number, but {op} compares numbers",
                        )
                    )


def _check_for_each(
    body: Mapping[str, Any],
    at: Loc,
    clusters: Mapping[str, Loc],
    environments: set[Any],
    settings: Mapping[str, Any],
    found: JobsCheck,
    inside: bool,
) -> None:
    inputs = body.get("inputs")
    if isinstance(inputs, str) and not inputs.strip().startswith("{{"):
        try:
            parsed = json.loads(inputs)
        except ValueError:
            parsed = None
        if not isinstance(parsed, list):
            found.errors.append(
                issue(
                    (*at, "inputs"),
                    'must be a JSON array as text (`["a", "b"]`) or a reference such as '
                    "`{{tasks.list.values.items}}`",
                )
            )
    nested = body.get("task")
    if not isinstance(nested, dict):
        return
    if "for_each_task" in nested:
        found.errors.append(
            issue(
                (*at, "task", "for_each_task"),
                "a for_each_task cannot run another for_each_task; nest a run_job_task instead",
            )
        )
    if "depends_on" in nested:
        found.errors.append(
            issue(
                (*at, "task", "depends_on"),
                "the nested task of a for_each_task cannot have depends_on; put it on the "
                "for_each task",
            )
        )
    check_task(nested, (*at, "task"), clusters, environments, settings, found, inside=True)


def _check_compute(
    task: Mapping[str, Any],
    kind: str,
    at: Loc,
    clusters: Mapping[str, Loc],
    environments: set[Any],
    found: JobsCheck,
) -> None:
    given = [key for key in _COMPUTE if task.get(key) is not None]
    for extra in given[1:]:
        found.errors.append(
            issue(
                (*at, extra),
                f"a task runs on one compute; this one already has `{given[0]}`",
            )
        )
    if kind in _NO_COMPUTE and given:
        found.errors.append(
            issue(
                (*at, given[0]),
                f"a {kind} runs without a cluster of this job; remove `{given[0]}`",
            )
        )
    if kind in _NEEDS_CLUSTER and not given:
        found.errors.append(
            issue(
                at,
                f"a {kind} needs a cluster: give job_cluster_key, existing_cluster_id or "
                "new_cluster",
            )
        )
    if kind == "spark_submit_task" and given and given[0] != "new_cluster":
        found.errors.append(
            issue((*at, given[0]), "a spark_submit_task runs only on a new_cluster")
        )
    if not given and task.get("libraries") and kind not in _NO_COMPUTE:
        found.warnings.append(
            issue(
                (*at, "libraries"),
                "a task without a cluster runs serverless, where task libraries are not "
                "installed; use an environment (environment_key) instead",
            )
        )
    cluster_key = task.get("job_cluster_key")
    if isinstance(cluster_key, str) and cluster_key and cluster_key not in clusters:
        hint = suggestion(cluster_key, clusters) or (
            f" (defined: {', '.join(repr(k) for k in clusters) or 'none'})"
        )
        found.errors.append(
            issue(
                (*at, "job_cluster_key"),
                f"names job cluster {cluster_key!r}, which is not defined under job_clusters"
                + hint,
            )
        )
    env = task.get("environment_key")
    if isinstance(env, str) and env and env not in environments:
        found.errors.append(
            issue(
                (*at, "environment_key"),
                f"names environment {env!r}, which is not defined under environments",
            )
        )


def check_dependencies(
    tasks: list[tuple[Loc, dict[str, Any]]],
    root: Loc,
    first: Mapping[str, Loc],
    task_types: Mapping[str, str | None],
    found: JobsCheck,
) -> None:
    edges: dict[str, list[str]] = {key: [] for key in first}
    positions: dict[tuple[str, str], int] = {}
    for loc, task in tasks:
        at = (*root, *loc)
        key = task.get("task_key")
        owner = key if isinstance(key, str) and first.get(key) == at else None
        seen: set[str] = set()
        for dep_loc, dependency in mapping_entries(task.get("depends_on"), "depends_on"):
            where = (*at, *dep_loc)
            target = dependency.get("task_key")
            if not isinstance(target, str) or not target:
                continue
            if target == key:
                found.errors.append(
                    issue((*where, "task_key"), f"task {key!r} cannot depend on itself")
                )
            elif target not in first:
                found.errors.append(
                    issue(
                        (*where, "task_key"),
                        f"names task {target!r}, which is not in this job"
                        + suggestion(target, first),
                    )
                )
            elif target in seen:
                found.warnings.append(
                    issue(where, f"lists {target!r} twice; the repeat is ignored")
                )
            elif owner is not None:
                edges[owner].append(target)
                positions[owner, target] = dep_loc[-1]  # type: ignore[assignment]
            seen.add(target)
            outcome = dependency.get("outcome")
            if outcome is not None and target in first and task_types[target] != "condition_task":
                found.errors.append(
                    issue(
                        (*where, "outcome"),
                        f"`outcome` applies only to a dependency on a condition_task; "
                        f"{target!r} is a {task_types[target] or 'task of unknown type'}",
                    )
                )
            if outcome is None and task_types.get(target) == "condition_task":
                found.errors.append(
                    issue(
                        where,
                        f"a dependency on condition task {target!r} needs `outcome`: "
                        '"true" or "false"',
                    )
                )
    for cycle in find_cycles(edges):
        first_key, second = cycle[0], cycle[1]
        found.errors.append(
            issue(
                (*first[first_key], "depends_on", positions[first_key, second], "task_key"),
                f"depends_on forms a cycle: {' -> '.join(cycle)} (each task waits for the "
                "next, so none can start); remove one of these dependencies",
            )
        )


def check_size(value: Any, at: Loc, what: str, found: JobsCheck) -> None:
    if value in (None, [], {}):
        return
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_PARAMETER_BYTES:
        found.errors.append(
            issue(at, f"{what} take {size} bytes as JSON; Databricks allows {MAX_PARAMETER_BYTES}")
        )


def all_tasks(tasks: list[tuple[Loc, dict[str, Any]]]) -> list[tuple[Loc, dict[str, Any]]]:
    found = list(tasks)
    for loc, task in tasks:
        body = task.get("for_each_task")
        if isinstance(body, dict) and isinstance(body.get("task"), dict):
            found.append(((*loc, "for_each_task", "task"), body["task"]))
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

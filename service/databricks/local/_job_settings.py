"""Validation of job settings and task lists (jobs/create, jobs/reset, runs/submit).

A request is checked completely before anything is stored: bad input is a 400 with the
path of the offending field, never a partial write. The raw settings are kept as sent
(they are echoed by jobs/get and in run objects); the scheduler works from the typed
``TaskSpec``/``JobSpec`` built here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._errors import invalid_parameter
from ._payload import (
    JsonObject,
    as_object,
    get_bool,
    get_int,
    get_list,
    get_object,
    get_str,
    get_str_list,
    get_str_map,
    require_str,
)
from ._states import RunIf

MAX_TASKS = 1000
MAX_TAGS = 25
_TASK_KEY = re.compile(r"^[\w\-]{1,100}$")


class TaskKind(StrEnum):
    NOTEBOOK = "notebook_task"
    SPARK_PYTHON = "spark_python_task"
    UNSUPPORTED = "unsupported"


# Task type fields the Jobs API knows; only the first two can run on this machine.
_TASK_TYPE_FIELDS = (
    "notebook_task",
    "spark_python_task",
    "python_wheel_task",
    "spark_jar_task",
    "spark_submit_task",
    "sql_task",
    "pipeline_task",
    "dbt_task",
    "run_job_task",
    "condition_task",
    "for_each_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
    "gen_ai_compute_task",
)


@dataclass(frozen=True)
class TaskSpec:
    task_key: str
    kind: TaskKind
    type_field: str  # the task's type field as sent, e.g. "spark_jar_task"
    depends_on: tuple[str, ...] = ()
    run_if: RunIf = RunIf.ALL_SUCCESS
    notebook_path: str = ""
    source: str = "WORKSPACE"  # where the code comes from: WORKSPACE or GIT
    base_parameters: Mapping[str, str] = field(default_factory=dict)
    python_file: str = ""
    python_parameters: tuple[str, ...] = ()
    max_retries: int = 0
    min_retry_interval_millis: int = 0
    retry_on_timeout: bool = False
    timeout_seconds: int = 0
    disabled: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class JobParameterDefinition:
    name: str
    default: str


@dataclass(frozen=True)
class JobSpec:
    name: str
    tasks: tuple[TaskSpec, ...]
    timeout_seconds: int
    max_concurrent_runs: int
    queue_enabled: bool
    parameters: tuple[JobParameterDefinition, ...]
    raw: Mapping[str, Any]

    def parameter_defaults(self) -> dict[str, str]:
        return {p.name: p.default for p in self.parameters}


def parse_job_settings(settings: Any, where: str = "") -> JobSpec:
    """Validate job settings (the body of jobs/create, or ``new_settings`` of jobs/reset)."""
    obj = as_object(settings, where or "request body")
    for legacy in _TASK_TYPE_FIELDS:
        if legacy in obj:
            raise invalid_parameter(
                f"{legacy} at the top level is the Jobs API 2.0 format; put it in tasks[]"
            )
    tags = get_object(obj, "tags", where) or {}
    if len(tags) > MAX_TAGS:
        raise invalid_parameter(f"a job can have at most {MAX_TAGS} tags, got {len(tags)}")
    queue = get_object(obj, "queue", where) or {}
    return JobSpec(
        name=get_str(obj, "name", where) or "Untitled",
        tasks=parse_tasks(obj, where, cluster_keys=_job_cluster_keys(obj, where)),
        timeout_seconds=get_int(obj, "timeout_seconds", where, default=0, minimum=0),
        max_concurrent_runs=get_int(
            obj, "max_concurrent_runs", where, default=1, minimum=0, maximum=1000
        ),
        # Jobs created through API 2.2 queue by default when max_concurrent_runs is reached.
        queue_enabled=get_bool(queue, "enabled", _join(where, "queue"), default=True),
        parameters=_parse_job_parameters(obj, where),
        raw=obj,
    )


def parse_tasks(
    obj: Mapping[str, Any], where: str, *, cluster_keys: set[str]
) -> tuple[TaskSpec, ...]:
    raw_tasks = get_list(obj, "tasks", where)
    if len(raw_tasks) > MAX_TASKS:
        raise invalid_parameter(f"a job can have at most {MAX_TASKS} tasks, got {len(raw_tasks)}")
    tasks = tuple(
        _parse_task(item, _join(where, f"tasks[{index}]"), cluster_keys)
        for index, item in enumerate(raw_tasks)
    )
    keys = [task.task_key for task in tasks]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise invalid_parameter(f"task_key must be unique within a job: {', '.join(duplicates)}")
    known = set(keys)
    for task in tasks:
        for upstream in task.depends_on:
            if upstream == task.task_key:
                raise invalid_parameter(f"task {task.task_key} depends on itself")
            if upstream not in known:
                raise invalid_parameter(
                    f"task {task.task_key} depends on {upstream}, which is not a task of this job"
                )
    cycle = find_cycle(tasks)
    if cycle:
        raise invalid_parameter(f"the task dependencies form a cycle: {' -> '.join(cycle)}")
    return tasks


def parse_cluster_keys(obj: Mapping[str, Any], where: str) -> set[str]:
    return _job_cluster_keys(obj, where)


def find_cycle(tasks: tuple[TaskSpec, ...]) -> list[str]:
    """Return one dependency cycle as a list of task keys, or [] if the graph is a DAG."""
    upstream = {task.task_key: task.depends_on for task in tasks}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(key: str) -> list[str]:
        state[key] = 1
        path.append(key)
        for dep in upstream.get(key, ()):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[key] = 2
        return []

    for task in tasks:
        if task.task_key not in state:
            found = visit(task.task_key)
            if found:
                return found
    return []


def _parse_task(value: Any, where: str, cluster_keys: set[str]) -> TaskSpec:
    obj = as_object(value, where)
    task_key = require_str(obj, "task_key", where)
    if not _TASK_KEY.match(task_key):
        raise invalid_parameter(
            f"{where}.task_key {task_key!r} must be 1-100 letters, digits, '-' or '_'"
        )
    cluster_key = get_str(obj, "job_cluster_key", where)
    if cluster_key is not None and cluster_key not in cluster_keys:
        raise invalid_parameter(
            f"{where}.job_cluster_key {cluster_key!r} is not defined in job_clusters"
        )
    type_fields = [name for name in _TASK_TYPE_FIELDS if obj.get(name) is not None]
    if len(type_fields) != 1:
        found = ", ".join(type_fields) if type_fields else "none"
        raise invalid_parameter(
            f"{where} ({task_key}) must have exactly one task type "
            f"(notebook_task, spark_python_task, ...); found {found}"
        )
    type_field = type_fields[0]
    run_if_text = get_str(obj, "run_if", where) or RunIf.ALL_SUCCESS.value
    try:
        run_if = RunIf(run_if_text)
    except ValueError:
        allowed = ", ".join(member.value for member in RunIf)
        raise invalid_parameter(f"{where}.run_if must be one of {allowed}") from None
    common: dict[str, Any] = {
        "task_key": task_key,
        "type_field": type_field,
        "depends_on": _parse_depends_on(obj, where),
        "run_if": run_if,
        "max_retries": get_int(obj, "max_retries", where, default=0, minimum=-1),
        "min_retry_interval_millis": get_int(
            obj, "min_retry_interval_millis", where, default=0, minimum=0
        ),
        "retry_on_timeout": get_bool(obj, "retry_on_timeout", where, default=False),
        "timeout_seconds": get_int(obj, "timeout_seconds", where, default=0, minimum=0),
        "disabled": get_bool(obj, "disabled", where, default=False),
        "raw": obj,
    }
    body = as_object(obj[type_field], f"{where}.{type_field}")
    body_where = f"{where}.{type_field}"
    if type_field == "notebook_task":
        return TaskSpec(
            kind=TaskKind.NOTEBOOK,
            notebook_path=require_str(body, "notebook_path", body_where),
            source=get_str(body, "source", body_where) or "WORKSPACE",
            base_parameters=get_str_map(body, "base_parameters", body_where),
            **common,
        )
    if type_field == "spark_python_task":
        return TaskSpec(
            kind=TaskKind.SPARK_PYTHON,
            python_file=require_str(body, "python_file", body_where),
            python_parameters=tuple(get_str_list(body, "parameters", body_where)),
            source=get_str(body, "source", body_where) or "WORKSPACE",
            **common,
        )
    return TaskSpec(kind=TaskKind.UNSUPPORTED, **common)


def _parse_depends_on(obj: Mapping[str, Any], where: str) -> tuple[str, ...]:
    keys: list[str] = []
    for index, item in enumerate(get_list(obj, "depends_on", where)):
        dep = as_object(item, f"{where}.depends_on[{index}]")
        key = require_str(dep, "task_key", f"{where}.depends_on[{index}]")
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def _parse_job_parameters(obj: Mapping[str, Any], where: str) -> tuple[JobParameterDefinition, ...]:
    definitions: list[JobParameterDefinition] = []
    for index, item in enumerate(get_list(obj, "parameters", where)):
        item_where = _join(where, f"parameters[{index}]")
        param = as_object(item, item_where)
        name = require_str(param, "name", item_where)
        default = require_str(param, "default", item_where)
        if any(existing.name == name for existing in definitions):
            raise invalid_parameter(f"job parameter {name!r} is defined twice")
        definitions.append(JobParameterDefinition(name=name, default=default))
    return tuple(definitions)


def _job_cluster_keys(obj: Mapping[str, Any], where: str) -> set[str]:
    keys: set[str] = set()
    for index, item in enumerate(get_list(obj, "job_clusters", where)):
        cluster: JsonObject = as_object(item, _join(where, f"job_clusters[{index}]"))
        keys.add(require_str(cluster, "job_cluster_key", _join(where, f"job_clusters[{index}]")))
    return keys


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key

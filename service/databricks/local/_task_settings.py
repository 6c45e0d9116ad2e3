"""Validation of task lists (jobs/create, jobs/reset, jobs/update, runs/submit).

Each task is checked completely, with the path of the offending field in the message;
the raw task is kept as sent (runs/get echoes it), and the scheduler works from the typed
``TaskSpec`` built here. A for-each task's inner task is a ``TaskSpec`` of its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ._errors import invalid_parameter
from ._payload import (
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
from ._webhook_settings import check_webhook_notifications

MAX_TASKS = 1000
MAX_FOR_EACH_CONCURRENCY = 100
_TASK_KEY = re.compile(r"^[\w\-]{1,100}$")


class TaskKind(StrEnum):
    NOTEBOOK = "notebook_task"
    SPARK_PYTHON = "spark_python_task"
    PYTHON_WHEEL = "python_wheel_task"
    SPARK_JAR = "spark_jar_task"
    SQL = "sql_task"
    PIPELINE = "pipeline_task"
    DBT = "dbt_task"
    RUN_JOB = "run_job_task"
    CONDITION = "condition_task"
    FOR_EACH = "for_each_task"
    UNSUPPORTED = "unsupported"


# Task type fields the Jobs API knows; those without a TaskKind cannot run here.
TASK_TYPE_FIELDS = (
    *(kind.value for kind in TaskKind if kind is not TaskKind.UNSUPPORTED),
    "spark_submit_task",
    "clean_rooms_notebook_task",
    "dashboard_task",
    "power_bi_task",
    "gen_ai_compute_task",
)
# Tasks the backend decides itself: no process, no cluster, and (condition) no retries.
CONTROL_KINDS = frozenset({TaskKind.CONDITION, TaskKind.FOR_EACH, TaskKind.RUN_JOB})

CONDITION_OPS = frozenset(
    {
        "EQUAL_TO",
        "NOT_EQUAL",
        "GREATER_THAN",
        "GREATER_THAN_OR_EQUAL",
        "LESS_THAN",
        "LESS_THAN_OR_EQUAL",
    }
)


@dataclass(frozen=True)
class TaskSpec:
    task_key: str
    kind: TaskKind
    type_field: str  # the task's type field as sent, e.g. "spark_jar_task"
    depends_on: tuple[str, ...] = ()
    # depends_on[].outcome, only on dependencies on condition tasks: "true" or "false"
    dependency_outcomes: Mapping[str, str] = field(default_factory=dict)
    run_if: RunIf = RunIf.ALL_SUCCESS
    notebook_path: str = ""
    source: str = "WORKSPACE"  # where the code comes from: WORKSPACE or GIT
    base_parameters: Mapping[str, str] = field(default_factory=dict)
    python_file: str = ""
    # positional arguments: spark_python_task, python_wheel_task and spark_jar_task
    parameters: tuple[str, ...] = ()
    named_parameters: Mapping[str, str] = field(default_factory=dict)
    package_name: str = ""
    entry_point: str = ""
    main_class_name: str = ""
    libraries: tuple[Mapping[str, Any], ...] = ()
    sql_file: str = ""
    sql_query_text: str = ""
    sql_query_id: str = ""
    sql_parameters: Mapping[str, str] = field(default_factory=dict)
    condition: tuple[str, str, str] = ("", "", "")  # op, left, right
    for_each_inputs: str = ""
    for_each_concurrency: int = 1
    for_each_task: TaskSpec | None = None
    run_job_id: int = 0
    run_job_parameters: Mapping[str, str] = field(default_factory=dict)
    max_retries: int = 0
    min_retry_interval_millis: int = 0
    retry_on_timeout: bool = False
    timeout_seconds: int = 0
    disabled: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)

    @property
    def body(self) -> Mapping[str, Any]:
        """The task type's object as sent (``raw["notebook_task"]`` ...)."""
        value = self.raw.get(self.type_field)
        return value if isinstance(value, dict) else {}


def parse_tasks(
    obj: Mapping[str, Any], where: str, *, cluster_keys: set[str]
) -> tuple[TaskSpec, ...]:
    raw_tasks = get_list(obj, "tasks", where)
    if len(raw_tasks) > MAX_TASKS:
        raise invalid_parameter(f"a job can have at most {MAX_TASKS} tasks, got {len(raw_tasks)}")
    tasks = tuple(
        parse_task(item, _join(where, f"tasks[{index}]"), cluster_keys)
        for index, item in enumerate(raw_tasks)
    )
    keys = [task.task_key for task in tasks]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise invalid_parameter(f"task_key must be unique within a job: {', '.join(duplicates)}")
    by_key = {task.task_key: task for task in tasks}
    for task in tasks:
        for upstream in task.depends_on:
            if upstream == task.task_key:
                raise invalid_parameter(f"task {task.task_key} depends on itself")
            if upstream not in by_key:
                raise invalid_parameter(
                    f"task {task.task_key} depends on {upstream}, which is not a task of this job"
                )
            if upstream in task.dependency_outcomes and by_key[upstream].kind is not (
                TaskKind.CONDITION
            ):
                raise invalid_parameter(
                    f"task {task.task_key}: depends_on {upstream} has an outcome, but "
                    f"{upstream} is not a condition_task"
                )
    cycle = find_cycle(tasks)
    if cycle:
        raise invalid_parameter(f"the task dependencies form a cycle: {' -> '.join(cycle)}")
    return tasks


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


def parse_task(
    value: Any, where: str, cluster_keys: set[str], *, inside_for_each: bool = False
) -> TaskSpec:
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
    type_fields = [name for name in TASK_TYPE_FIELDS if obj.get(name) is not None]
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
    depends_on, outcomes = _parse_depends_on(obj, where)
    check_webhook_notifications(obj, where)  # read from ``raw`` when the task runs
    common: dict[str, Any] = {
        "task_key": task_key,
        "type_field": type_field,
        "depends_on": depends_on,
        "dependency_outcomes": outcomes,
        "run_if": run_if,
        "max_retries": get_int(obj, "max_retries", where, default=0, minimum=-1),
        "min_retry_interval_millis": get_int(
            obj, "min_retry_interval_millis", where, default=0, minimum=0
        ),
        "retry_on_timeout": get_bool(obj, "retry_on_timeout", where, default=False),
        "timeout_seconds": get_int(obj, "timeout_seconds", where, default=0, minimum=0),
        "disabled": get_bool(obj, "disabled", where, default=False),
        "libraries": tuple(
            as_object(item, f"{where}.libraries[{index}]")
            for index, item in enumerate(get_list(obj, "libraries", where))
        ),
        "raw": obj,
    }
    body_where = f"{where}.{type_field}"
    body = as_object(obj[type_field], body_where)
    try:
        kind = TaskKind(type_field)
    except ValueError:
        return TaskSpec(kind=TaskKind.UNSUPPORTED, **common)
    if kind is TaskKind.FOR_EACH and inside_for_each:
        raise invalid_parameter(f"{body_where}: a for_each_task cannot contain another one")
    if kind is TaskKind.CONDITION and common["max_retries"] != 0:
        raise invalid_parameter(f"{where}.max_retries: condition tasks cannot be retried")
    return TaskSpec(kind=kind, **common, **_parse_body(kind, body, body_where, cluster_keys))


def _parse_body(
    kind: TaskKind, body: Mapping[str, Any], where: str, cluster_keys: set[str]
) -> dict[str, Any]:
    if kind is TaskKind.NOTEBOOK:
        return {
            "notebook_path": require_str(body, "notebook_path", where),
            "source": get_str(body, "source", where) or "WORKSPACE",
            "base_parameters": get_str_map(body, "base_parameters", where),
        }
    if kind is TaskKind.SPARK_PYTHON:
        return {
            "python_file": require_str(body, "python_file", where),
            "parameters": tuple(get_str_list(body, "parameters", where)),
            "source": get_str(body, "source", where) or "WORKSPACE",
        }
    if kind is TaskKind.PYTHON_WHEEL:
        if body.get("parameters") and body.get("named_parameters"):
            raise invalid_parameter(f"{where}: set parameters or named_parameters, not both")
        return {
            "package_name": require_str(body, "package_name", where),
            "entry_point": require_str(body, "entry_point", where),
            "parameters": tuple(get_str_list(body, "parameters", where)),
            "named_parameters": get_str_map(body, "named_parameters", where),
        }
    if kind is TaskKind.SPARK_JAR:
        return {
            "main_class_name": require_str(body, "main_class_name", where),
            "parameters": tuple(get_str_list(body, "parameters", where)),
        }
    if kind is TaskKind.SQL:
        return _parse_sql(body, where)
    if kind is TaskKind.CONDITION:
        op = require_str(body, "op", where)
        if op not in CONDITION_OPS:
            raise invalid_parameter(f"{where}.op must be one of {', '.join(sorted(CONDITION_OPS))}")
        return {
            "condition": (op, require_str(body, "left", where), require_str(body, "right", where))
        }
    if kind is TaskKind.FOR_EACH:
        inner = parse_task(body.get("task"), f"{where}.task", cluster_keys, inside_for_each=True)
        return {
            "for_each_inputs": require_str(body, "inputs", where),
            "for_each_concurrency": get_int(
                body, "concurrency", where, default=1, minimum=1, maximum=MAX_FOR_EACH_CONCURRENCY
            ),
            "for_each_task": inner,
        }
    if kind is TaskKind.RUN_JOB:
        if body.get("job_id") is None:
            raise invalid_parameter(f"{where}.job_id is required")
        return {
            "run_job_id": get_int(body, "job_id", where, default=0),
            "run_job_parameters": get_str_map(body, "job_parameters", where),
        }
    return {}  # pipeline_task, dbt_task: read from the body when they run


def _parse_sql(body: Mapping[str, Any], where: str) -> dict[str, Any]:
    query = get_object(body, "query", where) or {}
    file = get_object(body, "file", where) or {}
    chosen = [name for name in ("query", "file", "alert", "dashboard") if body.get(name)]
    if len(chosen) != 1:
        raise invalid_parameter(f"{where} needs exactly one of query, file, alert, dashboard")
    # query.query_text is a local extension: a real workspace only takes a saved query_id.
    if query and not (query.get("query_text") or query.get("query_id")):
        raise invalid_parameter(f"{where}.query needs query_id (or query_text locally)")
    return {
        "sql_file": (require_str(file, "path", f"{where}.file") if file else ""),
        "sql_query_text": get_str(query, "query_text", f"{where}.query") or "",
        "sql_query_id": get_str(query, "query_id", f"{where}.query") or "",
        "sql_parameters": get_str_map(body, "parameters", where),
    }


def _parse_depends_on(obj: Mapping[str, Any], where: str) -> tuple[tuple[str, ...], dict[str, str]]:
    keys: list[str] = []
    outcomes: dict[str, str] = {}
    for index, item in enumerate(get_list(obj, "depends_on", where)):
        item_where = f"{where}.depends_on[{index}]"
        dep = as_object(item, item_where)
        key = require_str(dep, "task_key", item_where)
        outcome = get_str(dep, "outcome", item_where)
        if outcome is not None:
            if outcome not in ("true", "false"):
                raise invalid_parameter(f'{item_where}.outcome must be "true" or "false"')
            outcomes[key] = outcome
        if key not in keys:
            keys.append(key)
    return tuple(keys), outcomes


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key

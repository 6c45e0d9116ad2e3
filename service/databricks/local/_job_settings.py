"""Validation of job settings (jobs/create, jobs/reset, jobs/update); tasks: ``_task_settings``.

A request is checked completely before anything is stored: bad input is a 400 with the
path of the offending field, never a partial write. The raw settings are kept as sent
(they are echoed by jobs/get and in run objects); the scheduler works from the typed
``TaskSpec``/``JobSpec`` built here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    require_str,
)
from ._spec_validation import check_with_spec_model
from ._task_settings import TASK_TYPE_FIELDS, TaskSpec, parse_tasks
from ._webhook_settings import check_webhook_notifications

MAX_TAGS = 25


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
    # queue.enabled as set; None when absent (the default depends on the API version the
    # job was created with: ``JobRecord.queue_enabled``).
    queue_enabled: bool | None
    parameters: tuple[JobParameterDefinition, ...]
    raw: Mapping[str, Any]

    def parameter_defaults(self) -> dict[str, str]:
        return {p.name: p.default for p in self.parameters}


def parse_job_settings(settings: Any, where: str = "", *, checked: bool = True) -> JobSpec:
    """Validate job settings (the body of jobs/create, or ``new_settings`` of jobs/reset).

    ``checked=False`` skips the spec model: for settings read back from the backend's own
    file, which were checked when they were sent.
    """
    obj = as_object(settings, where or "request body")
    if checked:
        check_webhook_notifications(obj, where)  # before the spec model: its own message
        check_with_spec_model(obj, where)
    for legacy in TASK_TYPE_FIELDS:
        if legacy in obj:
            raise invalid_parameter(
                f"{legacy} at the top level is the Jobs API 2.0 format; put it in tasks[]"
            )
    tags = get_object(obj, "tags", where) or {}
    if len(tags) > MAX_TAGS:
        raise invalid_parameter(f"a job can have at most {MAX_TAGS} tags, got {len(tags)}")
    queue = get_object(obj, "queue", where)
    return JobSpec(
        name=get_str(obj, "name", where) or "Untitled",
        tasks=parse_tasks(obj, where, cluster_keys=_job_cluster_keys(obj, where)),
        timeout_seconds=get_int(obj, "timeout_seconds", where, default=0, minimum=0),
        max_concurrent_runs=get_int(
            obj, "max_concurrent_runs", where, default=1, minimum=0, maximum=1000
        ),
        queue_enabled=_queue_enabled(queue, _join(where, "queue")),
        parameters=_parse_job_parameters(obj, where),
        raw=obj,
    )


def _queue_enabled(queue: JsonObject | None, where: str) -> bool | None:
    if queue is None or queue.get("enabled") is None:
        return None
    return get_bool(queue, "enabled", where, default=True)


def parse_cluster_keys(obj: Mapping[str, Any], where: str) -> set[str]:
    return _job_cluster_keys(obj, where)


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

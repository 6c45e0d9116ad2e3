"""The legacy per-task-type parameters of run-now and runs/repair, and where they apply.

Deprecated by Databricks in favour of job parameters, still sent by older clients:

- ``notebook_params`` {name: value}: notebook widgets, over the task's ``base_parameters``;
- ``python_params`` [..]: argv of spark_python_task and python_wheel_task, replacing
  the task's ``parameters``; ``python_named_params`` {name: value}: a wheel's
  ``--name=value`` arguments, replacing its ``named_parameters`` (and its argv);
- ``jar_params`` [..]: argv of spark_jar_task;
- ``sql_params`` {name: value}: sql_task parameters, over the task's ``parameters``;
- ``dbt_commands`` [..]: the dbt_task's ``commands``;
- ``pipeline_params`` {full_refresh}: the pipeline_task's ``full_refresh``;
- ``spark_submit_params`` [..]: spark_submit_task, which cannot run here (echoed only).

Checks as on the Jobs API: each field's JSON (``{"jar_params": [...]}``) is at most
10,000 bytes; ``jar_params`` and ``notebook_params`` are not sent together;
``python_params`` and ``spark_submit_params`` are ASCII only. Every field given is echoed
in the run's ``overriding_parameters``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from typing import Any

from ._errors import invalid_parameter
from ._payload import JsonObject, as_object, get_bool, get_str_list, get_str_map

MAX_FIELD_BYTES = 10_000
_MAPS = ("notebook_params", "python_named_params", "sql_params")
_LISTS = ("python_params", "jar_params", "spark_submit_params", "dbt_commands")
_ASCII_ONLY = ("python_params", "spark_submit_params")


@dataclass(frozen=True)
class LegacyParams:
    """None: not given (the task's own settings apply)."""

    notebook_params: dict[str, str] | None = None
    python_params: list[str] | None = None
    python_named_params: dict[str, str] | None = None
    jar_params: list[str] | None = None
    sql_params: dict[str, str] | None = None
    spark_submit_params: list[str] | None = None
    dbt_commands: list[str] | None = None
    pipeline_full_refresh: bool | None = None

    def overriding_parameters(self) -> JsonObject:
        """The run's ``overriding_parameters``: what the request gave, as sent."""
        body: JsonObject = {}
        for name in (*_MAPS, *_LISTS):
            value = getattr(self, name)
            if value is not None:
                body[name] = value.copy()
        if self.pipeline_full_refresh is not None:
            body["pipeline_params"] = {"full_refresh": self.pipeline_full_refresh}
        return body

    def merged_with(self, newer: LegacyParams) -> LegacyParams:
        """A repair's parameters over the run's: maps add to, lists and flags replace."""
        changes: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(newer, item.name)
            if value is None:
                continue
            old = getattr(self, item.name)
            changes[item.name] = {**old, **value} if item.name in _MAPS and old else value
        return replace(self, **changes)

    def as_doc(self) -> JsonObject:
        return {item.name: getattr(self, item.name) for item in fields(self)}

    @classmethod
    def from_doc(cls, doc: JsonObject) -> LegacyParams:
        """From a run document; files of older backends lack the newer fields."""
        values = {item.name: doc.get(item.name) for item in fields(cls)}
        if values["notebook_params"] == {}:  # older backends stored "none given" as {}
            values["notebook_params"] = None
        return cls(**values)


def parse_legacy_params(payload: JsonObject) -> LegacyParams:
    """The legacy parameter fields of a run-now or repair request, checked."""
    for name in (*_MAPS, *_LISTS, "pipeline_params"):
        if payload.get(name) is not None:
            size = len(json.dumps({name: payload[name]}, separators=(",", ":")).encode())
            if size > MAX_FIELD_BYTES:
                raise invalid_parameter(
                    f"{name}: its JSON representation is {size} bytes; the limit is "
                    f"{MAX_FIELD_BYTES}"
                )
    if payload.get("jar_params") is not None and payload.get("notebook_params") is not None:
        raise invalid_parameter(
            "jar_params cannot be specified in conjunction with notebook_params"
        )
    values: dict[str, Any] = {}
    for name in _MAPS:
        if payload.get(name) is not None:
            values[name] = get_str_map(payload, name, "")
    for name in _LISTS:
        if payload.get(name) is not None:
            values[name] = get_str_list(payload, name, "")
    for name in _ASCII_ONLY:
        for index, value in enumerate(values.get(name) or []):
            if not value.isascii():
                raise invalid_parameter(
                    f"{name}[{index}]: these parameters accept only ASCII characters"
                )
    pipeline = payload.get("pipeline_params")
    if pipeline is not None:
        pipeline_params = as_object(pipeline, "pipeline_params")
        values["pipeline_full_refresh"] = get_bool(
            pipeline_params, "full_refresh", "pipeline_params", default=False
        )
    return LegacyParams(**values)

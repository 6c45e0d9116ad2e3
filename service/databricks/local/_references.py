"""Dynamic value references in task parameters (``{{job.run_id}}``, ``{{job.start_time.year}}``).

Resolved when a task attempt starts, from what the run knows. A reference this backend
does not know is left as written (for example ``{{job.start_time}}`` without an
argument), so a notebook sees the text and can decide what to do with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_REFERENCE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


@dataclass(frozen=True)
class ReferenceContext:
    job_id: int | None
    job_name: str
    run_id: int
    start_time_ms: int
    workspace_id: int
    task_key: str
    task_run_id: int
    attempt_number: int
    parameters: Mapping[str, str] = field(default_factory=dict)
    task_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def resolve_references(text: str, context: ReferenceContext) -> str:
    def replace(match: re.Match[str]) -> str:
        value = _lookup(match.group(1).replace("`", ""), context)
        return match.group(0) if value is None else value

    return _REFERENCE.sub(replace, text)


def _lookup(name: str, context: ReferenceContext) -> str | None:
    simple = {
        "job.id": context.job_id,
        "job_id": context.job_id,
        "job.name": context.job_name,
        "job.run_id": context.run_id,
        "run_id": context.task_run_id,
        "parent_run_id": context.run_id,
        "job.repair_count": 0,
        "workspace.id": context.workspace_id,
        "task.name": context.task_key,
        "task_key": context.task_key,
        "task.run_id": context.task_run_id,
        "task.execution_count": context.attempt_number + 1,
        "start_date": _start(context).date().isoformat(),
    }
    if name in simple:
        value = simple[name]
        return None if value is None else str(value)
    if name.startswith("job.parameters."):
        return context.parameters.get(name.removeprefix("job.parameters."))
    if name.startswith("job.start_time."):
        return _time_part(_start(context), name.removeprefix("job.start_time."))
    if name.startswith("tasks."):
        parts = name.split(".")
        if len(parts) == 4 and parts[2] == "values":
            values = context.task_values.get(parts[1], {})
            if parts[3] in values:
                value = values[parts[3]]
                return value if isinstance(value, str) else json.dumps(value)
    return None


def _start(context: ReferenceContext) -> datetime:
    return datetime.fromtimestamp(context.start_time_ms / 1000, tz=UTC)


def _time_part(moment: datetime, argument: str) -> str | None:
    parts = {
        "iso_date": moment.date().isoformat(),
        "iso_datetime": moment.isoformat(timespec="seconds").replace("+00:00", ""),
        "year": str(moment.year),
        "month": str(moment.month),
        "day": str(moment.day),
        "hour": str(moment.hour),
        "minute": str(moment.minute),
        "second": str(moment.second),
        "timestamp_ms": str(int(moment.timestamp() * 1000)),
        "iso_weekday": str(moment.isoweekday()),
        "is_weekday": "true" if moment.isoweekday() <= 5 else "false",
    }
    return parts.get(argument)

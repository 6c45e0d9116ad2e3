"""Dynamic value references (``{{job.run_id}}``, ``{{tasks.load.values.rows}}``): reading,
checking and resolving them.

One grammar serves both sides: ``check_references`` finds mistakes when a workflow is
accepted, and ``resolve_references`` fills values in when a task attempt starts (the
local Databricks backend calls it). Both are pure and import nothing beyond the standard
library, so the backend can use them without pulling in the workflow models.

The grammar, as Databricks documents it: ``{{`` optional spaces, dotted name, optional
spaces, ``}}``. A name segment is letters, digits, ``_`` and ``-``, or any text in
backticks (``{{job.parameters.`my param`}}``). Contents are names, never expressions.

Rules a reader must not break:
- Text that does not parse as a reference (``{{ }}``, ``{{job..id}}``, an unclosed
  ``{{``) is literal text: it is neither an error nor replaced.
- A name in a namespace Databricks knows (job, task, tasks, workspace, input) that it
  does not define (``{{job.naem}}``) is an error when the workflow is accepted; a name in
  another namespace is left as written.
- A reference whose value is not known at run time (a task value never set) is left as
  written, so the task sees the text instead of an empty string.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "LEGACY_REPLACEMENTS",
    "NO_INPUT",
    "TIME_ARGUMENTS",
    "Reference",
    "ReferenceContext",
    "ReferenceFinding",
    "check_references",
    "find_references",
    "resolve_references",
    "rewrite_legacy_references",
]

_SEGMENT = r"(?:[A-Za-z0-9_-]+|`[^`{}]+`)"
_REFERENCE = re.compile(r"\{\{\s*(" + _SEGMENT + r"(?:\." + _SEGMENT + r")*)\s*\}\}")
_SEGMENTS = re.compile(_SEGMENT)

NAMESPACES = ("job", "task", "tasks", "workspace", "input")

# Arguments of ``job.start_time.<arg>`` and ``job.trigger.time.<arg>`` (UTC).
TIME_ARGUMENTS = (
    "iso_date",
    "iso_datetime",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "second",
    "timestamp_ms",
    "iso_weekday",
    "is_weekday",
)

# Old names and the current reference that means the same; ``{{job.start_time}}`` has no
# argument, which Databricks refuses, so it maps to the closest complete form.
# ``start_time`` and ``task_retry_count`` follow Databricks' deprecated-reference table as
# we read it, but their replacements do not mean exactly the same (see _INEXACT), so each
# rewrite says how they differ.
LEGACY_REPLACEMENTS: dict[str, str] = {
    "job_id": "job.id",
    "run_id": "task.run_id",
    "parent_run_id": "job.run_id",
    "task_key": "task.name",
    "start_date": "job.start_time.iso_date",
    "start_time": "job.start_time.timestamp_ms",
    "task_retry_count": "task.execution_count",
    "job.start_time": "job.start_time.iso_datetime",
    "job.trigger.time": "job.trigger.time.iso_datetime",
}
# Legacy names whose replacement differs: what to tell the author.
_INEXACT = {
    "start_time": "the legacy value was when the task started (epoch ms), the new one is "
    "when the job run started",
    "task_retry_count": "the legacy value counted retries from 0, the new one counts runs "
    "of the task from 1 (retries + 1)",
}

_FIXED_NAMES = (
    "job.id",
    "job.name",
    "job.run_id",
    "job.repair_count",
    "job.trigger.type",
    "job.trigger.file_arrival.location",
    "task.name",
    "task.run_id",
    "task.execution_count",
    "workspace.id",
    "workspace.url",
    "input",
)
_TASK_FIELDS = ("result_state", "error_code", "run_id")


@dataclass(frozen=True)
class Reference:
    """One parsed reference: where it sits in the text and its name segments."""

    start: int
    end: int
    segments: tuple[str, ...]

    @property
    def name(self) -> str:
        return ".".join(self.segments)


@dataclass(frozen=True)
class ReferenceFinding:
    """A problem (``error``) or a note (``warning``) about one reference in a text."""

    reference: str  # as written, with the braces
    message: str
    error: bool


class _NoInput:
    def __repr__(self) -> str:
        return "NO_INPUT"


NO_INPUT: Any = _NoInput()


@dataclass(frozen=True)
class ReferenceContext:
    """What a run knows when a task attempt starts; times are epoch milliseconds (UTC)."""

    job_id: int | None
    job_name: str
    run_id: int
    start_time_ms: int
    workspace_id: int
    task_key: str
    task_run_id: int
    attempt_number: int = 0
    repair_count: int = 0
    parameters: Mapping[str, str] = field(default_factory=dict)
    task_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    task_result_states: Mapping[str, str] = field(default_factory=dict)
    task_error_codes: Mapping[str, str] = field(default_factory=dict)
    task_run_ids: Mapping[str, int] = field(default_factory=dict)
    trigger_type: str = "ONE_TIME"
    trigger_time_ms: int | None = None  # defaults to the start time
    file_arrival_location: str | None = None
    workspace_url: str | None = None
    # The for-each element this iteration runs with (any JSON value), or NO_INPUT.
    for_each_input: Any = NO_INPUT


def find_references(text: str) -> Iterator[Reference]:
    """Every well-formed reference in ``text``, in order; malformed ones are skipped."""
    for match in _REFERENCE.finditer(text):
        segments = tuple(
            segment.strip("`") if segment.startswith("`") else segment
            for segment in _SEGMENTS.findall(match.group(1))
        )
        yield Reference(start=match.start(), end=match.end(), segments=segments)


def resolve_references(text: str, context: ReferenceContext) -> str:
    """Replaces each reference whose value is known; everything else stays as written."""
    pieces: list[str] = []
    position = 0
    for reference in find_references(text):
        value = _value(reference.segments, context)
        if value is None:
            continue
        pieces.append(text[position : reference.start])
        pieces.append(value)
        position = reference.end
    pieces.append(text[position:])
    return "".join(pieces)


def rewrite_legacy_references(text: str) -> tuple[str, list[str]]:
    """Rewrites legacy names to the current ones; returns the text and one note per kind."""
    pieces: list[str] = []
    position = 0
    notes: dict[str, str] = {}
    for reference in find_references(text):
        replacement = LEGACY_REPLACEMENTS.get(reference.name)
        if replacement is None:
            continue
        pieces.append(text[position : reference.start])
        pieces.append("{{" + replacement + "}}")
        position = reference.end
        notes[reference.name] = _legacy_note(reference.name, replacement)
    pieces.append(text[position:])
    return "".join(pieces), list(notes.values())


def check_references(
    text: str,
    *,
    task_keys: frozenset[str] | None = None,
    job_parameters: frozenset[str] | None = None,
    in_for_each: bool = True,
) -> list[ReferenceFinding]:
    """Errors for unknown names in known namespaces (with a suggestion), and warnings for
    legacy names and for what cannot resolve here. ``task_keys``/``job_parameters``, when
    given, are the names a ``tasks.<key>`` / ``job.parameters.<name>`` may use."""
    findings: list[ReferenceFinding] = []
    for reference in find_references(text):
        written = text[reference.start : reference.end]
        finding = _check_one(reference, written, task_keys, job_parameters, in_for_each)
        if finding is not None:
            findings.append(finding)
    return findings


def _check_one(
    reference: Reference,
    written: str,
    task_keys: frozenset[str] | None,
    job_parameters: frozenset[str] | None,
    in_for_each: bool,
) -> ReferenceFinding | None:
    name, segments = reference.name, reference.segments
    if name in LEGACY_REPLACEMENTS:
        note = _legacy_note(name, LEGACY_REPLACEMENTS[name])
        return ReferenceFinding(written, note, error=False)
    if segments[0] not in NAMESPACES:
        return None
    if segments[0] == "input":
        if not in_for_each:
            return ReferenceFinding(
                written,
                f"`{written}` only has a value inside a for_each_task's nested task",
                error=True,
            )
        return None
    if name in _FIXED_NAMES:
        return None
    if _is_time(segments):
        return None
    if segments[:2] == ("job", "parameters") and len(segments) == 3:
        if job_parameters is not None and segments[2] not in job_parameters:
            return ReferenceFinding(
                written,
                f"`{written}` names job parameter {segments[2]!r}, which the workflow does "
                "not define" + _suggest(segments[2], job_parameters),
                error=False,
            )
        return None
    if segments[0] == "tasks" and len(segments) >= 3:
        return _check_task_reference(segments, written, task_keys)
    return ReferenceFinding(
        written,
        f"`{written}` is not a dynamic value reference Databricks knows"
        + _suggest(name, _known_names(segments[0]), prefix="{{", suffix="}}"),
        error=True,
    )


def _check_task_reference(
    segments: tuple[str, ...], written: str, task_keys: frozenset[str] | None
) -> ReferenceFinding | None:
    key = segments[1]
    shape_ok = (len(segments) == 4 and segments[2] == "values") or (
        len(segments) == 3 and segments[2] in _TASK_FIELDS
    )
    if not shape_ok:
        return ReferenceFinding(
            written,
            f"`{written}` is not a task reference; use `{{{{tasks.{key}.values.<name>}}}}` or "
            f"`{{{{tasks.{key}.result_state}}}}`",
            error=True,
        )
    if task_keys is not None and key not in task_keys:
        return ReferenceFinding(
            written,
            f"`{written}` names task {key!r}, which is not in this workflow"
            + _suggest(key, task_keys),
            error=True,
        )
    return None


def _is_time(segments: tuple[str, ...]) -> bool:
    if len(segments) == 3 and segments[:2] == ("job", "start_time"):
        return segments[2] in TIME_ARGUMENTS
    if len(segments) == 4 and segments[:3] == ("job", "trigger", "time"):
        return segments[3] in TIME_ARGUMENTS
    return False


def _known_names(namespace: str) -> list[str]:
    names = [name for name in _FIXED_NAMES if name.split(".")[0] == namespace]
    if namespace == "job":
        names += [f"job.start_time.{arg}" for arg in TIME_ARGUMENTS]
        names += [f"job.trigger.time.{arg}" for arg in TIME_ARGUMENTS]
        names.append("job.parameters.<name>")
    if namespace == "tasks":
        names += ["tasks.<task>.values.<name>", "tasks.<task>.result_state"]
    return names


def _suggest(name: str, candidates: Any, *, prefix: str = "", suffix: str = "") -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean `{prefix}{close[0]}{suffix}`?)" if close else ""


def _legacy_note(name: str, replacement: str) -> str:
    if name in ("job.start_time", "job.trigger.time"):
        return (
            f"`{{{{{name}}}}}` needs an argument in Databricks; using `{{{{{replacement}}}}}` "
            f"(write `{{{{{name}.iso_date}}}}` for the day only)"
        )
    if name in _INEXACT:
        return (
            f"`{{{{{name}}}}}` is a legacy reference; using `{{{{{replacement}}}}}`, but "
            f"{_INEXACT[name]}: check the task reads it that way"
        )
    return f"`{{{{{name}}}}}` is a legacy reference; using `{{{{{replacement}}}}}`"


def _value(segments: tuple[str, ...], context: ReferenceContext) -> str | None:
    name = ".".join(segments)
    if name == "task_retry_count":  # kept as written (a run sent here directly): its own meaning
        return str(context.attempt_number)
    if name in LEGACY_REPLACEMENTS:  # legacy names resolve like the names that replace them
        name = LEGACY_REPLACEMENTS[name]
        segments = tuple(name.split("."))
    simple: dict[str, object | None] = {
        "job.id": context.job_id,
        "job.name": context.job_name,
        "job.run_id": context.run_id,
        "job.repair_count": context.repair_count,
        "job.trigger.type": context.trigger_type,
        "job.trigger.file_arrival.location": context.file_arrival_location,
        "task.name": context.task_key,
        "task.run_id": context.task_run_id,
        "task.execution_count": context.attempt_number + 1,
        "workspace.id": context.workspace_id,
        "workspace.url": context.workspace_url,
    }
    if name in simple:
        value = simple[name]
        return None if value is None else str(value)
    head = segments[0]
    if head == "input":
        return _input_value(segments[1:], context.for_each_input)
    if segments[:2] == ("job", "parameters") and len(segments) == 3:
        return context.parameters.get(segments[2])
    if len(segments) == 3 and segments[:2] == ("job", "start_time"):
        return _time_part(context.start_time_ms, segments[2])
    if len(segments) == 4 and segments[:3] == ("job", "trigger", "time"):
        moment = context.trigger_time_ms
        return _time_part(context.start_time_ms if moment is None else moment, segments[3])
    if head == "tasks" and len(segments) >= 3:
        return _task_value(segments, context)
    return None


def _task_value(segments: tuple[str, ...], context: ReferenceContext) -> str | None:
    key = segments[1]
    if len(segments) == 4 and segments[2] == "values":
        values = context.task_values.get(key, {})
        if segments[3] not in values:
            return None
        return _as_text(values[segments[3]])
    if len(segments) == 3:
        table: Mapping[str, object] = {
            "result_state": context.task_result_states,
            "error_code": context.task_error_codes,
            "run_id": context.task_run_ids,
        }.get(segments[2], {})
        found = table.get(key)
        return None if found is None else str(found)
    return None


def _input_value(path: tuple[str, ...], value: Any) -> str | None:
    if value is NO_INPUT:
        return None
    for segment in path:
        if isinstance(value, Mapping) and segment in value:
            value = value[segment]
        else:
            return None
    return _as_text(value)


def _as_text(value: Any) -> str:
    """Strings as they are; other JSON values as compact JSON (``true``, ``[1,2]``)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _time_part(epoch_ms: int, argument: str) -> str | None:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    parts = {
        "iso_date": moment.date().isoformat(),
        "iso_datetime": moment.replace(tzinfo=None).isoformat(timespec="seconds"),
        "year": str(moment.year),
        "month": str(moment.month),
        "day": str(moment.day),
        "hour": str(moment.hour),
        "minute": str(moment.minute),
        "second": str(moment.second),
        "timestamp_ms": str(epoch_ms),
        "iso_weekday": str(moment.isoweekday()),
        "is_weekday": "true" if moment.isoweekday() <= 5 else "false",
    }
    return parts.get(argument)

"""What ``lockgate apply`` will do, decided from data before anything changes: create,
update (with a diff), unchanged, or delete (only with prune)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from service.workflows._definition import WorkflowDefinition
from service.workflows._formats import parse_workflow
from service.workflows._issues import WorkflowInvalid

Action = Literal["create", "update", "unchanged", "delete"]


@dataclass(frozen=True)
class PlanStep:
    action: Action
    name: str
    definition: WorkflowDefinition | None = None  # None for delete
    diff: str = ""


def plan_apply(
    local: list[WorkflowDefinition],
    remote_sources: Mapping[str, dict[str, Any]],
    *,
    prune: bool,
) -> list[PlanStep]:
    """``remote_sources`` maps each workflow the API has to its stored source."""
    steps: list[PlanStep] = []
    for definition in local:
        stored = remote_sources.get(definition.name)
        if stored is None:
            steps.append(PlanStep("create", definition.name, definition))
        elif stored == definition.source:
            steps.append(PlanStep("unchanged", definition.name, definition))
        else:
            steps.append(PlanStep("update", definition.name, definition, _diff(stored, definition)))
    if prune:
        wanted = {definition.name for definition in local}
        steps += [PlanStep("delete", name) for name in sorted(remote_sources) if name not in wanted]
    return steps


def _diff(stored: dict[str, Any], definition: WorkflowDefinition) -> str:
    """The change in Jobs terms (what Databricks will run); the source's own text when the
    stored one no longer reads or only its wording changed."""
    try:
        before: Any = parse_workflow(stored).export_job_settings()
        after: Any = definition.export_job_settings()
    except WorkflowInvalid:
        before, after = stored, definition.source
    if before == after:
        before, after = stored, definition.source
    lines = difflib.unified_diff(
        _lines(before), _lines(after), fromfile="current", tofile="new", lineterm=""
    )
    return "\n".join(lines)


def _lines(value: Any) -> list[str]:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()

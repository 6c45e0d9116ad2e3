"""What ``lockgate apply`` will do, decided from data before anything changes: create,
update (with a diff), unchanged, or, for a workflow the files do not define, delete (with
prune) or keep (without: listed, so the plan shows what prune would delete).

A plan whose definitions would close a job-completion trigger cycle among the workflows
the API would then hold is refused as a whole (``WorkflowInvalid``), before any change:
applied one by one, the API would refuse only the last of them, after writing the rest."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from service.workflows._definition import WorkflowDefinition
from service.workflows._formats import parse_workflow
from service.workflows._issues import WorkflowInvalid
from service.workflows.trigger_cycles import find_trigger_cycles

# "keep": a workflow the API has and the files do not define, left alone without prune
# (listed, so a person sees what `--prune` would delete); "delete" with prune.
Action = Literal["create", "update", "unchanged", "delete", "keep"]


@dataclass(frozen=True)
class PlanStep:
    action: Action
    name: str
    definition: WorkflowDefinition | None = None  # None for delete and keep
    diff: str = ""


def plan_apply(
    local: list[WorkflowDefinition],
    remote_sources: Mapping[str, dict[str, Any]],
    *,
    prune: bool,
) -> list[PlanStep]:
    """``remote_sources`` maps each workflow the API has to its stored source. Raises
    ``WorkflowInvalid`` naming each trigger cycle the plan would close."""
    _refuse_cycles(local, remote_sources, prune=prune)
    steps: list[PlanStep] = []
    for definition in local:
        stored = remote_sources.get(definition.name)
        if stored is None:
            steps.append(PlanStep("create", definition.name, definition))
        elif stored == definition.source:
            steps.append(PlanStep("unchanged", definition.name, definition))
        else:
            steps.append(PlanStep("update", definition.name, definition, _diff(stored, definition)))
    wanted = {definition.name for definition in local}
    others = [name for name in sorted(remote_sources) if name not in wanted]
    steps += [PlanStep("delete" if prune else "keep", name) for name in others]
    return steps


def _refuse_cycles(
    local: list[WorkflowDefinition], remote_sources: Mapping[str, dict[str, Any]], *, prune: bool
) -> None:
    wanted = {definition.name for definition in local}
    stored: dict[str, list[str]] = {}
    for name, source in remote_sources.items():
        if name in wanted or prune:
            continue  # replaced by the local definition, or deleted by the plan
        try:
            spec = parse_workflow(source).job_completion
        except WorkflowInvalid:
            continue  # a stored definition that no longer reads triggers nothing
        stored[name] = [str(u.value) for u in spec.workflow_upstreams] if spec else []
    cycles = find_trigger_cycles(stored, local)
    if cycles:
        raise WorkflowInvalid([cycle.as_issue() for cycle in cycles])


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

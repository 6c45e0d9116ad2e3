"""``parse_workflow``: a document in, a checked ``WorkflowDefinition`` out (or every
problem at once).

Today the document is the seed ``workflow_config`` format. Other formats (Databricks
Jobs JSON, bundle YAML) are meant to arrive as further readers producing the same
``WorkflowDefinition``; nothing outside this package sees which format was used.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from service.workflows._issues import SpecIssue, WorkflowInvalid
from service.workflows._pydantic_issues import validate_at
from service.workflows._seed_checks import (
    check_references,
    mapping_entries,
    unknown_key_warnings,
)
from service.workflows._seed_convert import RouteTable, SeedTaskSpec, convert_seed
from service.workflows._seed_models import (
    TASK_TYPES,
    SeedJobCluster,
    SeedTask,
    SeedWorkflow,
    TaskTypeFields,
)

_WORKFLOW: TypeAdapter[SeedWorkflow] = TypeAdapter(SeedWorkflow)
_JOB_CLUSTER: TypeAdapter[SeedJobCluster] = TypeAdapter(SeedJobCluster)
_TASK: TypeAdapter[SeedTask] = TypeAdapter(SeedTask)
_TASK_TYPE_FIELDS: dict[str, TypeAdapter[TaskTypeFields]] = {
    name: TypeAdapter(model) for name, model in TASK_TYPES.items()
}

_MISSING_HINTS = {
    "name": "name the workflow with letters, digits, -, _ and . (it appears in URLs)",
    "task_key": "give the task a unique name of letters, digits, - and _",
    "type": f"one of {', '.join(TASK_TYPES)}",
    "cluster_key": "the name that tasks give as job_cluster_key",
    "notebook_path": "the absolute workspace path of the notebook to run",
    "cron": "a Unix (`0 2 * * *`) or Quartz (`0 0 2 * * ?`) cron expression",
    "default": 'Databricks job parameters need a default value ("" for none)',
    "warehouse_id": "the id of the SQL warehouse to run on",
    "main_class_name": "the class with the main method to run",
    "pipeline_id": "the id of the pipeline to update",
}


@dataclass(frozen=True)
class WorkflowDefinition:
    name: str
    source: dict[str, Any]  # the document as given
    warnings: tuple[SpecIssue, ...]
    task_keys: tuple[str, ...]
    job_parameter_names: tuple[str, ...]
    _job_settings: dict[str, Any] = field(repr=False)
    _email_routes: RouteTable = field(repr=False)
    _webhook_routes: RouteTable = field(repr=False)
    _task_routes: dict[str, tuple[RouteTable, RouteTable]] = field(repr=False)

    def to_job_settings(self) -> dict[str, Any]:
        """Databricks Jobs 2.2 settings (a jobs/create body); a fresh copy each call."""
        return copy.deepcopy(self._job_settings)

    def alert_routes(self) -> tuple[RouteTable, RouteTable]:
        """(email, webhook) targets per ``on_start`` / ``on_success`` / ``on_failure``.

        Lockgate sends these itself; they are not part of the job settings.
        """
        return dict(self._email_routes), dict(self._webhook_routes)

    def task_alert_routes(self) -> dict[str, tuple[RouteTable, RouteTable]]:
        """Per task key, the (email, webhook) routes of tasks that declare their own
        ``email_notifications`` / ``webhook_notifications``; other tasks are absent."""
        return {
            key: (dict(email), dict(webhook)) for key, (email, webhook) in self._task_routes.items()
        }


def parse_workflow(document: Mapping[str, Any]) -> WorkflowDefinition:
    """Checks and converts a workflow document; raises ``WorkflowInvalid`` listing every
    problem found (each with its JSON path), never just the first."""
    if not isinstance(document, Mapping):
        raise WorkflowInvalid(
            [SpecIssue(path="$", message="a workflow must be a mapping of keys to values")]
        )
    source = copy.deepcopy(dict(document))
    warnings = unknown_key_warnings(source)
    workflow, errors = validate_at(_WORKFLOW, source, (), missing_hints=_MISSING_HINTS)
    clusters, cluster_errors = _validate_job_clusters(source.get("job_clusters"))
    tasks, task_errors = _validate_tasks(source.get("tasks"))
    errors += cluster_errors + task_errors
    reference_errors, reference_warnings = check_references(source)
    errors += reference_errors
    warnings += reference_warnings
    if errors or workflow is None:
        raise WorkflowInvalid(_by_path(errors))
    conversion = convert_seed(workflow, clusters, tasks)
    return WorkflowDefinition(
        name=workflow.name,
        source=source,
        warnings=tuple(_by_path(warnings + conversion.warnings)),
        task_keys=tuple(spec.common.task_key for spec in tasks),
        job_parameter_names=tuple(parameter.name for parameter in workflow.parameters),
        _job_settings=conversion.job_settings,
        _email_routes=conversion.email_routes,
        _webhook_routes=conversion.webhook_routes,
        _task_routes=conversion.task_routes,
    )


def _validate_job_clusters(raw_clusters: Any) -> tuple[list[SeedJobCluster], list[SpecIssue]]:
    clusters: list[SeedJobCluster] = []
    errors: list[SpecIssue] = []
    for loc, raw in mapping_entries(raw_clusters, "job_clusters"):
        cluster, found = validate_at(_JOB_CLUSTER, raw, loc, missing_hints=_MISSING_HINTS)
        errors += found
        if cluster is not None:
            errors += cluster.cross_field_issues(loc)
            clusters.append(cluster)
    return clusters, errors


def _validate_tasks(raw_tasks: Any) -> tuple[list[SeedTaskSpec], list[SpecIssue]]:
    """Each task on its own: common fields, then its type's fields, so one bad task does
    not hide the others' problems."""
    specs: list[SeedTaskSpec] = []
    errors: list[SpecIssue] = []
    for loc, raw in mapping_entries(raw_tasks, "tasks"):
        common, found = validate_at(_TASK, raw, loc, missing_hints=_MISSING_HINTS)
        errors += found
        type_name = raw.get("type")
        adapter = _TASK_TYPE_FIELDS.get(type_name) if isinstance(type_name, str) else None
        if adapter is None:
            continue  # missing or unknown type: reported by SeedTask
        fields, found = validate_at(adapter, raw, loc, missing_hints=_MISSING_HINTS)
        errors += found
        if fields is not None:
            errors += fields.cross_field_issues(loc)
        if common is not None and fields is not None:
            specs.append(SeedTaskSpec(loc=loc, common=common, fields=fields))
    return specs, errors


def _by_path(issues: list[SpecIssue]) -> list[SpecIssue]:
    """Sorted by path, list indices compared as numbers (tasks[2] before tasks[10]), so
    each task's problems stay together and the order is stable; repeats are dropped."""

    def key(found: SpecIssue) -> list[tuple[int, int | str]]:
        return [
            (0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", found.path)
        ]

    return sorted(dict.fromkeys(issues), key=key)

"""Reading the seed guide's ``workflow_config`` format into a ``WorkflowDefinition``."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter

from service.workflows._definition import WorkflowDefinition
from service.workflows._issues import Loc, SpecIssue, WorkflowInvalid, sorted_by_path
from service.workflows._pydantic_issues import validate_at
from service.workflows._seed_checks import (
    check_references,
    mapping_entries,
    unknown_key_warnings,
)
from service.workflows._seed_convert import SeedConversion, SeedTaskSpec, convert_seed
from service.workflows._seed_models import (
    TASK_TYPES,
    SeedJobCluster,
    SeedTask,
    SeedWorkflow,
    TaskTypeFields,
)
from service.workflows._seed_recheck import recheck_converted
from service.workflows._text_checks import check_strings
from service.workflows.completion import (
    declare_upstream_parameters,
    read_job_completion,
    take_job_completion,
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


def parse_seed(document: Mapping[str, Any]) -> WorkflowDefinition:
    """Checks and converts a seed document; raises ``WorkflowInvalid`` listing every
    problem found (each with its JSON path), never just the first."""
    source = copy.deepcopy(dict(document))
    warnings = unknown_key_warnings(source)
    workflow, errors = validate_at(_WORKFLOW, source, (), missing_hints=_MISSING_HINTS)
    clusters, cluster_errors = _validate_job_clusters(source.get("job_clusters"))
    tasks, task_errors = _validate_tasks(source.get("tasks"))
    errors += cluster_errors + task_errors
    reference_errors, reference_warnings = check_references(source)
    errors += reference_errors
    warnings += reference_warnings
    errors += _dynamic_reference_errors(source, warnings)
    completion, completion_errors = read_job_completion(
        source.get("trigger"), ("trigger",), check_kinds=True
    )
    errors += completion_errors
    if errors or workflow is None:
        raise WorkflowInvalid(sorted_by_path(errors))
    conversion = convert_seed(workflow, [cluster for _, cluster in clusters], tasks)
    parameter_names = tuple(parameter.name for parameter in workflow.parameters)
    if completion is not None:  # Lockgate's own block: not sent to Databricks
        take_job_completion(conversion.job_settings)
        parameter_names = declare_upstream_parameters(conversion.job_settings)
    warnings += conversion.warnings
    # What the seed converts to must pass the Jobs checks too (Databricks applies them
    # to the export), reported where the seed document says it.
    jobs_errors, jobs_warnings = recheck_converted(
        conversion.job_settings,
        task_locs=[spec.loc for spec in tasks],
        cluster_locs=[loc for loc, _ in clusters],
        inline_sql_tasks=_inline_sql_tasks(conversion),
        seed_warnings=warnings,
    )
    if jobs_errors:
        raise WorkflowInvalid(sorted_by_path(jobs_errors))
    warnings += jobs_warnings
    return WorkflowDefinition(
        name=workflow.name,
        source=source,
        warnings=tuple(sorted_by_path(warnings)),
        task_keys=tuple(spec.common.task_key for spec in tasks),
        job_parameter_names=parameter_names,
        format="seed",
        workspace_files=conversion.workspace_files,
        job_completion=completion,
        _job_settings=conversion.job_settings,
        _email_routes=conversion.email_routes,
        _webhook_routes=conversion.webhook_routes,
        _task_routes=conversion.task_routes,
    )


def _dynamic_reference_errors(source: dict[str, Any], warnings: list[SpecIssue]) -> list[SpecIssue]:
    task_keys = frozenset(
        task["task_key"]
        for _, task in mapping_entries(source.get("tasks"), "tasks")
        if isinstance(task.get("task_key"), str)
    )
    names = frozenset(
        parameter["name"]
        for _, parameter in mapping_entries(source.get("parameters"), "parameters")
        if isinstance(parameter.get("name"), str)
    )
    errors: list[SpecIssue] = []
    for key in ("tasks", "parameters"):
        found_errors, found_warnings = check_strings(
            source.get(key), (key,), task_keys=task_keys, job_parameters=names or None
        )
        errors += found_errors
        warnings += found_warnings
    return errors


def _inline_sql_tasks(conversion: SeedConversion) -> frozenset[int]:
    """Indices of the converted tasks whose sql_task.file is the seed's inline SQL."""
    return frozenset(
        position
        for position, task in enumerate(conversion.job_settings["tasks"])
        if ((task.get("sql_task") or {}).get("file") or {}).get("path")
        in conversion.workspace_files
    )


def _validate_job_clusters(
    raw_clusters: Any,
) -> tuple[list[tuple[Loc, SeedJobCluster]], list[SpecIssue]]:
    """Each job cluster that validates, with where it was read."""
    clusters: list[tuple[Loc, SeedJobCluster]] = []
    errors: list[SpecIssue] = []
    for loc, raw in mapping_entries(raw_clusters, "job_clusters"):
        cluster, found = validate_at(_JOB_CLUSTER, raw, loc, missing_hints=_MISSING_HINTS)
        errors += found
        if cluster is not None:
            errors += cluster.cross_field_issues(loc)
            clusters.append((loc, cluster))
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

"""Seed ``workflow_config`` -> Databricks Jobs 2.2 settings (the jobs/create body).

Seed semantics are kept (defaults, ``cluster_key`` -> ``job_cluster_key``, autoscale
replacing ``num_workers``), and the seed's bugs are fixed, each with a warning where the
author should change the document: Unix cron becomes Quartz, ``python_file`` runs as a
script (the seed made it a wheel task), ``custom_disk`` no longer sends an instance-pool
``disk_spec`` that job clusters do not have, legacy ``{{job.start_time}}``/``{{start_date}}``
references get today's names, and no ``None`` values are sent.

``notifications`` and ``webhooks`` are deliberately NOT put into the job settings:
Lockgate watches every run and sends those alerts itself (signed webhooks, email), and
Databricks' ``webhook_notifications`` take notification-destination ids, not URLs.
Sending them to Databricks as well would alert people twice, or fail.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from service.workflows._cron import to_quartz
from service.workflows._definition import ROUTE_EVENTS, RouteTable
from service.workflows._issues import Loc, SpecIssue, issue
from service.workflows._seed_checks import WORKFLOW_TAG
from service.workflows._seed_models import (
    EmailRoutes,
    JarFields,
    NotebookFields,
    PipelineFields,
    PythonFields,
    SeedJobCluster,
    SeedTask,
    SeedWorkflow,
    SqlFields,
    TaskTypeFields,
    WebhookRoutes,
)
from service.workflows._sql_parameters import lift_references
from service.workflows.references import rewrite_legacy_references

# Where the seed's inline SQL text is published in a workspace (one file per task).
INLINE_SQL_ROOT = "/Workspace/Shared/lockgate"


@dataclass(frozen=True)
class SeedTaskSpec:
    """A validated task: its common fields, its type's fields, and where it sits."""

    loc: Loc
    common: SeedTask
    fields: TaskTypeFields


@dataclass(frozen=True)
class SeedConversion:
    job_settings: dict[str, Any]
    warnings: list[SpecIssue]
    email_routes: RouteTable
    webhook_routes: RouteTable
    task_routes: dict[str, tuple[RouteTable, RouteTable]]
    workspace_files: dict[str, str]


def convert_seed(
    workflow: SeedWorkflow, clusters: list[SeedJobCluster], tasks: list[SeedTaskSpec]
) -> SeedConversion:
    """Converts a checked document; callers run it only when validation found no errors."""
    warnings: list[SpecIssue] = []
    settings: dict[str, Any] = {"name": workflow.name}
    if workflow.description:
        settings["description"] = workflow.description
    settings["tags"] = {**workflow.tags, WORKFLOW_TAG: workflow.name}
    settings["timeout_seconds"] = workflow.timeout_seconds
    settings["max_concurrent_runs"] = workflow.max_concurrent_runs
    if workflow.schedule is not None:
        quartz, converted = to_quartz(workflow.schedule.cron)
        if converted:
            warnings.append(
                issue(
                    ("schedule", "cron"),
                    f"`{workflow.schedule.cron}` is Unix cron; Databricks takes Quartz, so it "
                    f"is sent as `{quartz}` (write that to silence this warning)",
                )
            )
        settings["schedule"] = {
            "quartz_cron_expression": quartz,
            "timezone_id": workflow.schedule.timezone,
            "pause_status": workflow.schedule.pause_status,
        }
    for key in ("trigger", "health", "notification_settings", "queue"):
        value = getattr(workflow, key)
        if value is not None:
            settings[key] = value
    if workflow.parameters:
        settings["parameters"] = [
            {
                "name": parameter.name,
                "default": _rewrite(
                    parameter.default, ("parameters", position, "default"), warnings
                ),
            }
            for position, parameter in enumerate(workflow.parameters)
        ]
    if clusters:
        settings["job_clusters"] = [
            _job_cluster(cluster, ("job_clusters", position), warnings)
            for position, cluster in enumerate(clusters)
        ]
    files: dict[str, str] = {}
    settings["tasks"] = [_task(spec, warnings, workflow.name, files) for spec in tasks]
    task_routes: dict[str, tuple[RouteTable, RouteTable]] = {}
    for spec in tasks:
        email = _routes(spec.common.email_notifications)
        webhook = _routes(spec.common.webhook_notifications)
        if any(email.values()) or any(webhook.values()):  # empty lists route nothing
            task_routes[spec.common.task_key] = (email, webhook)
    return SeedConversion(
        job_settings=settings,
        warnings=warnings,
        email_routes=_routes(workflow.notifications),
        webhook_routes=_routes(workflow.webhooks),
        task_routes=task_routes,
        workspace_files=files,
    )


def _routes(routes: EmailRoutes | WebhookRoutes | None) -> RouteTable:
    if routes is None:
        return {event: () for event in ROUTE_EVENTS}
    # Ordered and de-duplicated: the first-listed target is tried first, and an address
    # listed twice (merged team lists) gets one message.
    return {event: tuple(dict.fromkeys(getattr(routes, event))) for event in ROUTE_EVENTS}


def _job_cluster(cluster: SeedJobCluster, loc: Loc, warnings: list[SpecIssue]) -> dict[str, Any]:
    new_cluster: dict[str, Any] = {
        "spark_version": cluster.spark_version,
        "node_type_id": cluster.node_type,
        # The seed defaulted the driver to Standard_DS3_v2 whatever the workers were.
        "driver_node_type_id": cluster.driver_node_type or cluster.node_type,
    }
    given = cluster.model_fields_set
    if cluster.autoscale:
        new_cluster["autoscale"] = {
            "min_workers": cluster.min_workers,
            "max_workers": cluster.max_workers,
        }
        if "num_workers" in given:
            warnings.append(
                issue(
                    (*loc, "num_workers"),
                    "is ignored because autoscale is on (min_workers to max_workers); "
                    "set autoscale: false for a fixed size",
                )
            )
    else:
        new_cluster["num_workers"] = cluster.num_workers
        for ignored in sorted({"min_workers", "max_workers"} & given):
            warnings.append(issue((*loc, ignored), "is ignored because autoscale is false"))
    new_cluster["cluster_log_conf"] = {
        "dbfs": {"destination": f"dbfs:/cluster-logs/{cluster.cluster_key}"}
    }
    if cluster.init_scripts:
        new_cluster["init_scripts"] = cluster.init_scripts
    if cluster.spark_conf:
        new_cluster["spark_conf"] = dict(cluster.spark_conf)
    if cluster.spark_env_vars:
        new_cluster["spark_env_vars"] = dict(cluster.spark_env_vars)
    new_cluster["azure_attributes"] = {
        "availability": cluster.availability,
        "first_on_demand": cluster.first_on_demand,
        "spot_bid_max_price": cluster.spot_bid_max_price,
    }
    new_cluster["enable_elastic_disk"] = cluster.enable_elastic_disk
    if cluster.custom_disk:
        # The seed sent a disk_spec here, but that is an instance-pool setting: the Jobs
        # API's cluster spec has no such field, so Databricks would drop or refuse it.
        warnings.append(
            issue(
                (*loc, "custom_disk"),
                "is ignored: job clusters have no disk settings (disk_spec belongs to instance "
                "pools); Azure clusters grow their disks with enable_elastic_disk",
            )
        )
    if cluster.custom_tags:
        new_cluster["custom_tags"] = dict(cluster.custom_tags)
    return {"job_cluster_key": cluster.cluster_key, "new_cluster": new_cluster}


def _task(
    spec: SeedTaskSpec, warnings: list[SpecIssue], workflow_name: str, files: dict[str, str]
) -> dict[str, Any]:
    common = spec.common
    task: dict[str, Any] = {"task_key": common.task_key}
    if common.description:
        task["description"] = common.description
    if common.depends_on:
        task["depends_on"] = [{"task_key": key} for key in dict.fromkeys(common.depends_on)]
    # One compute per task, in the seed's order of preference (_seed_checks warns about
    # the ones dropped).
    if common.job_cluster_key is not None:
        task["job_cluster_key"] = common.job_cluster_key
    elif common.existing_cluster_id is not None:
        task["existing_cluster_id"] = common.existing_cluster_id
    elif common.new_cluster is not None:
        task["new_cluster"] = common.new_cluster
    if isinstance(spec.fields, SqlFields) and _uses_inline_sql(spec.fields):
        payload_key, payload = _inline_sql_payload(
            spec.fields,
            spec.loc,
            warnings,
            f"{INLINE_SQL_ROOT}/{workflow_name}/{common.task_key}.sql",
            files,
        )
    else:
        payload_key, payload = _task_payload(spec.fields, spec.loc, warnings)
    task[payload_key] = payload
    if common.libraries:
        task["libraries"] = common.libraries
    task["timeout_seconds"] = common.timeout_seconds
    task["max_retries"] = common.max_retries
    task["min_retry_interval_millis"] = common.min_retry_interval_millis
    task["retry_on_timeout"] = common.retry_on_timeout
    return task


def _task_payload(
    fields: TaskTypeFields, loc: Loc, warnings: list[SpecIssue]
) -> tuple[str, dict[str, Any]]:
    if isinstance(fields, NotebookFields):
        notebook: dict[str, Any] = {"notebook_path": fields.notebook_path, "source": fields.source}
        if fields.parameters:
            notebook["base_parameters"] = _rewrite_map(
                fields.parameters, (*loc, "parameters"), warnings
            )
        return "notebook_task", notebook
    if isinstance(fields, PythonFields):
        return _python_payload(fields, loc, warnings)
    if isinstance(fields, JarFields):
        jar: dict[str, Any] = {"main_class_name": fields.main_class_name}
        if fields.parameters:
            jar["parameters"] = _rewrite_list(fields.parameters, (*loc, "parameters"), warnings)
        return "spark_jar_task", jar
    if isinstance(fields, SqlFields):
        sql: dict[str, Any] = {"warehouse_id": fields.warehouse_id}
        if fields.query_id is not None:
            sql["query"] = {"query_id": fields.query_id}
        else:
            sql["file"] = {"path": fields.file}
        return "sql_task", sql
    if isinstance(fields, PipelineFields):
        return "pipeline_task", {
            "pipeline_id": fields.pipeline_id,
            "full_refresh": fields.full_refresh,
        }
    raise TypeError(f"no conversion for task fields {type(fields).__name__}")


def _uses_inline_sql(fields: SqlFields) -> bool:
    return fields.query_id is None and fields.file is None and fields.query is not None


def _inline_sql_payload(
    fields: SqlFields, loc: Loc, warnings: list[SpecIssue], path: str, files: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """The seed sent its text as ``sql_task.query.query``, a field Databricks does not
    have. The text is kept: published as a workspace file at ``path`` and referenced.
    References in it become SQL task parameters (``_sql_parameters``)."""
    text, parameters, notes = lift_references(_dedent_sql(fields.query or ""))
    warnings.extend(issue((*loc, "query"), note) for note in notes)
    files[path] = text
    warnings.append(
        issue(
            (*loc, "query"),
            "Databricks SQL tasks cannot carry SQL text; Lockgate keeps it, runs it as-is on "
            f"the local backend, and for a workspace publishes it as the file `{path}` "
            "(sql_task.file). Save it as a query (`query_id`) or a file (`file`) to silence this",
        )
    )
    sql: dict[str, Any] = {
        "warehouse_id": fields.warehouse_id,
        "file": {"path": path, "source": "WORKSPACE"},
    }
    if parameters:
        sql["parameters"] = parameters
    return "sql_task", sql


def _dedent_sql(text: str) -> str:
    return textwrap.dedent(text).strip() + "\n"


def _python_payload(
    fields: PythonFields, loc: Loc, warnings: list[SpecIssue]
) -> tuple[str, dict[str, Any]]:
    parameters_loc = (*loc, "parameters")
    if fields.python_file is not None:
        for ignored in ("package_name", "entry_point"):
            if getattr(fields, ignored) is not None:
                warnings.append(
                    issue(
                        (*loc, ignored),
                        "is ignored: this task runs `python_file` as a Python script (the seed "
                        "wrongly ran it as a wheel); remove package_name and entry_point",
                    )
                )
        warnings.append(
            issue(
                (*loc, "python_file"),
                "runs as a spark_python_task (the seed sent `type: python` as a wheel task, "
                "which needs package_name and cannot run a file)",
            )
        )
        script: dict[str, Any] = {"python_file": fields.python_file}
        if isinstance(fields.parameters, list) and fields.parameters:
            script["parameters"] = _rewrite_list(fields.parameters, parameters_loc, warnings)
        if fields.source is not None:
            script["source"] = fields.source
        return "spark_python_task", script
    wheel: dict[str, Any] = {"package_name": fields.package_name, "entry_point": fields.entry_point}
    if isinstance(fields.parameters, dict) and fields.parameters:
        wheel["named_parameters"] = _rewrite_map(fields.parameters, parameters_loc, warnings)
    elif isinstance(fields.parameters, list) and fields.parameters:
        wheel["parameters"] = _rewrite_list(fields.parameters, parameters_loc, warnings)
    return "python_wheel_task", wheel


def _rewrite(text: str, loc: Loc, warnings: list[SpecIssue]) -> str:
    rewritten, notes = rewrite_legacy_references(text)
    warnings.extend(issue(loc, note) for note in notes)
    return rewritten


def _rewrite_map(values: dict[str, str], loc: Loc, warnings: list[SpecIssue]) -> dict[str, str]:
    return {name: _rewrite(value, (*loc, name), warnings) for name, value in values.items()}


def _rewrite_list(values: list[str], loc: Loc, warnings: list[SpecIssue]) -> list[str]:
    return [_rewrite(value, (*loc, position), warnings) for position, value in enumerate(values)]

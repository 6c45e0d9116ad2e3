"""Which format a document is in, and the entry points that read any of them.

Detection looks at shapes that only one format has: a bundle has ``resources`` (or
``bundle``/``include``/``targets``); Jobs JSON has ``*_task`` keys, ``job_cluster_key``,
``quartz_cron_expression`` or a jobs/get ``settings`` wrapper; the seed has a task
``type``, ``cluster_key`` and ``schedule.cron``. A document with none of these is read as
the seed format, whose error messages are the ones its authors expect.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from service.workflows._bundle import is_bundle, parse_bundle
from service.workflows._definition import SourceFormat, WorkflowDefinition
from service.workflows._issues import SpecIssue, WorkflowInvalid
from service.workflows._jobs_import import parse_job_settings
from service.workflows._jobs_models import TASK_TYPE_MODELS
from service.workflows._seed_parse import parse_seed

_JOBS_TOP_LEVEL = ("email_notifications", "webhook_notifications", "trigger", "environments")
_SEED_TOP_LEVEL = ("notifications", "webhooks")


def detect_format(document: Mapping[str, Any]) -> SourceFormat:
    if is_bundle(document):
        return "bundle"
    if isinstance(document.get("settings"), Mapping):
        return "jobs"
    votes = {"seed": 0, "jobs": 0}
    for task in _entries(document.get("tasks")):
        if "type" in task:
            votes["seed"] += 1
        if any(key in task for key in TASK_TYPE_MODELS):
            votes["jobs"] += 1
    for cluster in _entries(document.get("job_clusters")):
        votes["seed" if "cluster_key" in cluster else "jobs"] += "job_cluster_key" in cluster or (
            "cluster_key" in cluster
        )
    schedule = document.get("schedule")
    if isinstance(schedule, Mapping):
        votes["seed"] += "cron" in schedule
        votes["jobs"] += "quartz_cron_expression" in schedule
    votes["jobs"] += sum(key in document for key in _JOBS_TOP_LEVEL)
    votes["seed"] += sum(key in document for key in _SEED_TOP_LEVEL)
    return "jobs" if votes["jobs"] > votes["seed"] else "seed"


def parse_document(
    document: Mapping[str, Any],
    *,
    format: SourceFormat | None = None,
    base_dir: Path | None = None,
    target: str | None = None,
) -> list[WorkflowDefinition]:
    """Every workflow a document defines (a bundle may define several; the other formats
    one). ``format`` skips detection; ``base_dir`` is a bundle's directory (for ``include``)."""
    if not isinstance(document, Mapping):
        raise WorkflowInvalid([SpecIssue("$", "a workflow must be a mapping of keys to values")])
    chosen = format or detect_format(document)
    if chosen == "bundle":
        return parse_bundle(document, base_dir=base_dir, target=target)
    if chosen == "jobs":
        return [parse_job_settings(document)]
    return [parse_seed(document)]


def parse_workflow(document: Mapping[str, Any]) -> WorkflowDefinition:
    """Checks and converts one workflow in any format (the seed ``workflow_config``, Jobs
    JSON, or a bundle with one job); raises ``WorkflowInvalid`` listing every problem found
    (each with its JSON path), never just the first."""
    definitions = parse_document(document)
    if len(definitions) != 1:
        raise WorkflowInvalid(
            [
                SpecIssue(
                    "$.resources.jobs",
                    f"the bundle defines {len(definitions)} jobs where one workflow was "
                    "expected; send each job on its own, or POST the bundle to create all",
                )
            ]
        )
    return definitions[0]


def _entries(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []

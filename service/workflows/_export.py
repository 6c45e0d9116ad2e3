"""Writing a workflow out: Jobs 2.2 JSON (a jobs/create body Databricks accepts) or a
bundle YAML with the same job under ``resources.jobs``.

Both read back to the same definition (import -> export -> import is a fixed point):
the job carries the ``lockgate_workflow`` tag, which names the workflow on import.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import yaml

from service.workflows._bundle import bundle_document
from service.workflows._definition import WorkflowDefinition

ExportFormat = Literal["json", "yaml"]


def export_document(definition: WorkflowDefinition, format: ExportFormat) -> dict[str, Any]:
    settings = definition.export_job_settings()
    if format == "json":
        return settings
    return bundle_document(bundle_key(definition.name), settings)


def export_text(definition: WorkflowDefinition, format: ExportFormat) -> str:
    document = export_document(definition, format)
    if format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def bundle_key(name: str) -> str:
    """Bundle resource keys are identifiers; a workflow name may hold `.`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)

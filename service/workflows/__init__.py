"""Workflow definitions: the documents users write, in any of three formats, checked and
converted to Databricks Jobs settings plus Lockgate's own alert routes.

    document = load_document(body, content_type=request_content_type)
    definition = parse_workflow(document)        # seed, Jobs JSON or a one-job bundle
    definitions = parse_document(document)       # a bundle may define several
    definition.to_job_settings()                 # jobs/create body
    definition.workspace_files                   # files to publish first (inline SQL)
    definition.alert_routes()                    # (email, webhook) per event
    export_text(definition, "json")              # Jobs 2.2 JSON, or "yaml" for a bundle
    export_warnings(definition)                  # what the export leaves out, by path

Dynamic value references (checking and resolving) are in ``service.workflows.references``;
the job-completion trigger block (``definition.job_completion``) in
``service.workflows.completion``, and trigger cycles in ``service.workflows.trigger_cycles``.
"""

from service.workflows._apply_plan import PlanStep, plan_apply
from service.workflows._bundle import parse_bundle
from service.workflows._definition import WorkflowDefinition
from service.workflows._document import load_document
from service.workflows._export import export_document, export_text
from service.workflows._export_losses import export_warnings
from service.workflows._files import FileResult, read_definitions
from service.workflows._formats import detect_format, parse_document, parse_workflow
from service.workflows._issues import SpecIssue, WorkflowInvalid
from service.workflows._jobs_import import parse_job_settings
from service.workflows._spec_limits import (
    MAX_IDEMPOTENCY_TOKEN_LENGTH,
    MAX_PARAMETER_BYTES,
    check_run_request,
)

__all__ = [
    "MAX_IDEMPOTENCY_TOKEN_LENGTH",
    "MAX_PARAMETER_BYTES",
    "FileResult",
    "PlanStep",
    "SpecIssue",
    "WorkflowDefinition",
    "WorkflowInvalid",
    "check_run_request",
    "detect_format",
    "export_document",
    "export_text",
    "export_warnings",
    "load_document",
    "parse_bundle",
    "parse_document",
    "parse_job_settings",
    "parse_workflow",
    "plan_apply",
    "read_definitions",
]

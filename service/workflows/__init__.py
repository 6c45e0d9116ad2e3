"""Workflow definitions: the documents users write, checked and converted to Databricks
Jobs settings plus Lockgate's own alert routes.

    document = load_document(body, content_type=request_content_type)
    definition = parse_workflow(document)        # raises WorkflowInvalid (all problems)
    definition.to_job_settings()                 # jobs/create body
    definition.alert_routes()                    # (email, webhook) per event
"""

from service.workflows._definition import WorkflowDefinition, parse_workflow
from service.workflows._document import load_document
from service.workflows._issues import SpecIssue, WorkflowInvalid

__all__ = [
    "SpecIssue",
    "WorkflowDefinition",
    "WorkflowInvalid",
    "load_document",
    "parse_workflow",
]

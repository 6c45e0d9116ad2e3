from __future__ import annotations

import service.workflows


def test_public_names_are_pinned() -> None:
    assert sorted(service.workflows.__all__) == [
        "FileResult",
        "MAX_IDEMPOTENCY_TOKEN_LENGTH",
        "MAX_PARAMETER_BYTES",
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
    for name in service.workflows.__all__:
        value = getattr(service.workflows, name)
        assert isinstance(value, int) or value.__module__.startswith("service.workflows")

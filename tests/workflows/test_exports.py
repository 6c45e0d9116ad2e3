from __future__ import annotations

import service.workflows


def test_public_names_are_pinned() -> None:
    assert sorted(service.workflows.__all__) == [
        "SpecIssue",
        "WorkflowDefinition",
        "WorkflowInvalid",
        "load_document",
        "parse_workflow",
    ]
    for name in service.workflows.__all__:
        assert getattr(service.workflows, name).__module__.startswith("service.workflows")

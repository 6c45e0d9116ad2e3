"""Databricks' documented limits that a workflow or a run request must stay within.

Checked here rather than left to Databricks, so a mistake is refused with its JSON path
when the workflow is saved (or the run asked for), not when a run is submitted hours
later by a schedule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from service.workflows._issues import SpecIssue, issue

MAX_TASKS = 1_000  # tasks per job
MAX_JOB_TAGS = 25  # tags per job
MAX_PARAMETER_BYTES = 10_000  # run-now parameters (each kind), and parameter sets in a job
MAX_IDEMPOTENCY_TOKEN_LENGTH = 64


def check_run_request(
    parameters: Mapping[str, Any] | None, idempotency_token: str | None
) -> list[SpecIssue]:
    """Problems with a run request's job parameters and idempotency token, by JSON path
    (``$.parameters``, ``$.idempotency_token``); empty when Databricks would take it."""
    problems: list[SpecIssue] = []
    if parameters:
        size = len(json.dumps(dict(parameters), separators=(",", ":")).encode())
        if size > MAX_PARAMETER_BYTES:
            problems.append(
                issue(
                    ("parameters",),
                    f"take {size} bytes as JSON; Databricks allows {MAX_PARAMETER_BYTES}",
                )
            )
    if idempotency_token is not None and len(idempotency_token) > MAX_IDEMPOTENCY_TOKEN_LENGTH:
        problems.append(
            issue(
                ("idempotency_token",),
                f"has {len(idempotency_token)} characters; Databricks allows "
                f"{MAX_IDEMPOTENCY_TOKEN_LENGTH}",
            )
        )
    return problems

"""``POST /api/v1/events:test``: which workflows a payload would start, with which
parameters, without recording or starting anything.

The same functions decide as the real paths (the hook's filters and mapping, a file
watch's location and name filters), so a dry run cannot drift from what a delivery does.
Signatures are not checked: the caller is an authenticated API user asking "what if".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from service.store.models import Hook
from service.store.repositories import file_watches as watches_repo
from service.triggers import hook_payload
from service.triggers.file_arrival import file_parameters, watch_matches


@dataclass(frozen=True)
class WouldStart:
    workflow: str
    parameters: dict[str, str]


@dataclass
class DryRun:
    verdict: str  # would_dispatch | filtered | rejected | no_match
    reason: str | None = None
    path: str | None = None
    starts: list[WouldStart] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "path": self.path,
            "would_start": [
                {"workflow": s.workflow, "parameters": s.parameters} for s in self.starts
            ],
        }


def test_hook(
    hook: Hook, *, body: Any, headers: Mapping[str, str], query: Mapping[str, str]
) -> DryRun:
    request = hook_payload.HookRequest(
        body=body, headers={k.lower(): v for k, v in headers.items()}, query=dict(query)
    )
    unmet = hook_payload.first_unmet_filter(hook.filters, request)
    if unmet is not None:
        return DryRun(verdict="filtered", reason=unmet)
    try:
        parameters = hook_payload.map_parameters(hook.parameters, request)
    except hook_payload.ParameterMappingError as exc:
        return DryRun(verdict="rejected", reason=exc.message, path=exc.path)
    return DryRun(
        verdict="would_dispatch",
        starts=[WouldStart(workflow=name, parameters=parameters) for name in hook.targets],
    )


def test_file(
    session: Session, *, url: str, declared_for: Callable[[str], Mapping[str, str]]
) -> DryRun:
    """``declared_for(workflow_name)``: that workflow's job parameters and defaults."""
    starts = [
        WouldStart(
            workflow=watch.workflow_name,
            parameters=file_parameters(
                watch, files=[url], declared=declared_for(watch.workflow_name)
            ),
        )
        for watch in watches_repo.list_watches(session)
        if not watch.paused and watch_matches(watch, url)
    ]
    if not starts:
        return DryRun(verdict="no_match", reason="no file watch covers this location")
    return DryRun(verdict="would_dispatch", starts=starts)

"""/api/v1/events: the trigger ledger."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.api.deps import ApiKeyDep, SessionDep
from service.api.problems import Problem
from service.store.models import TriggerEvent
from service.store.repositories import runs as runs_repo

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.get("/events/{event_id}")
def get_event(event_id: str, session: SessionDep, _: ApiKeyDep) -> dict[str, Any]:
    event = session.get(TriggerEvent, event_id)
    if event is None:
        raise Problem(404, "Event not found", f"no trigger event has id {event_id!r}")
    run = runs_repo.get_run_for_event(session, trigger_event_id=event.id)
    return {
        "id": event.id,
        "source": event.source,
        "source_name": event.source_name,
        "status": event.status,
        "verdict": event.verdict,
        "verdict_reason": event.verdict_reason,
        "parameters": event.parameters,
        "received_at": event.received_at.isoformat(),
        "dispatched_at": event.dispatched_at.isoformat() if event.dispatched_at else None,
        "run_id": run.id if run else None,
    }

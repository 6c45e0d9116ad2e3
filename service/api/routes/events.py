"""/api/v1/events: the trigger ledger — list, read, replay, and a dry run."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import BaseModel, Field, model_validator

from service.api.deps import ReadAccess, SenderDep, SessionDep, TriggerAccess
from service.api.problems import Problem
from service.store.models import Run, TriggerEvent, Workflow
from service.store.repositories import events as events_repo
from service.store.repositories import workflows as workflows_repo
from service.triggers import dry_run
from service.triggers.definitions import workflow_triggers
from service.triggers.ledger import announce
from service.triggers.replay import NotReplayable, replay_event

router = APIRouter(prefix="/api/v1", tags=["events"])

VERDICTS = ("received", "dispatched", "queued", "skipped", "duplicate", "filtered", "rejected")


def _run_summary(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {"id": run.id, "status": run.status, "databricks_run_id": run.databricks_run_id}


def _public(
    event: TriggerEvent,
    run: Run | None,
    replays: list[TriggerEvent],
    replay_runs: dict[str, Run],
    workflow_name: str | None,
) -> dict[str, Any]:
    return {
        "id": event.id,
        "source": event.source,
        "source_name": event.source_name,
        "dedupe_key": event.dedupe_key,
        "workflow": workflow_name,
        "status": event.status,
        "verdict": event.verdict or "received",
        "verdict_reason": event.verdict_reason,
        "parameters": event.parameters,
        "received_at": event.received_at.isoformat(),
        "dispatched_at": event.dispatched_at.isoformat() if event.dispatched_at else None,
        "duplicate_of": event.duplicate_of_id,
        "replay_of": event.replay_of_id,
        "run_id": run.id if run else None,
        "runs": [
            r
            for r in [_run_summary(run)]
            + [_run_summary(replay_runs.get(replay.id)) for replay in replays]
            if r is not None
        ],
        "replays": [replay.id for replay in replays],
    }


def _present(session: SessionDep, events: list[TriggerEvent]) -> list[dict[str, Any]]:
    ids = [e.id for e in events]
    runs = events_repo.runs_for_events(session, event_ids=ids)
    replays = events_repo.replays_of(session, event_ids=ids)
    replay_runs = events_repo.runs_for_events(
        session, event_ids=[r.id for group in replays.values() for r in group]
    )
    names = (
        dict(
            session.query(Workflow.id, Workflow.name)
            .filter(Workflow.id.in_({e.workflow_id for e in events}))
            .all()
        )
        if events
        else {}
    )
    return [
        _public(
            e, runs.get(e.id), replays.get(e.id, []), replay_runs, names.get(e.workflow_id or "")
        )
        for e in events
    ]


def _cursor(event: TriggerEvent) -> str:
    text = f"{event.received_at.isoformat()}|{event.id}"
    return base64.urlsafe_b64encode(text.encode()).decode()


def _read_cursor(token: str) -> tuple[datetime, str]:
    try:
        at, _, event_id = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        return datetime.fromisoformat(at), event_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(
            400,
            "Bad page token",
            "page_token must be a next_page_token from an earlier page",
            errors=[{"path": "query:page_token", "message": "not a page token"}],
        ) from exc


@router.get("/events")
def list_events(
    session: SessionDep,
    _: ReadAccess,
    source: str | None = None,
    source_name: str | None = None,
    verdict: Annotated[str | None, Query(description=", ".join(VERDICTS))] = None,
    workflow: str | None = None,
    received_from: datetime | None = None,
    received_before: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    page_token: str | None = None,
) -> dict[str, Any]:
    if verdict is not None and verdict not in VERDICTS:
        raise Problem(
            422,
            "Unknown verdict",
            f"verdict must be one of {', '.join(VERDICTS)}",
            errors=[{"path": "query:verdict", "message": "unknown verdict"}],
        )
    for name, moment in (("received_from", received_from), ("received_before", received_before)):
        if moment is not None and moment.tzinfo is None:
            raise Problem(
                422,
                "Time without zone",
                f"{name} needs a UTC offset (e.g. 2026-11-25T06:00:00Z)",
                errors=[{"path": f"query:{name}", "message": "no UTC offset"}],
            )
    workflow_id = None
    if workflow is not None:
        found = workflows_repo.get_workflow_by_name(session, name=workflow)
        if found is None:
            return {"items": [], "next_page_token": None}
        workflow_id = found.id
    events = events_repo.list_events(
        session,
        where=events_repo.EventFilter(
            source=source,
            source_name=source_name,
            verdict=verdict,
            workflow_id=workflow_id,
            received_from=received_from,
            received_before=received_before,
        ),
        after=_read_cursor(page_token) if page_token else None,
        limit=limit + 1,
    )
    page, more = events[:limit], len(events) > limit
    return {
        "items": _present(session, page),
        "next_page_token": _cursor(page[-1]) if more else None,
    }


@router.get("/events/{event_id}")
def get_event(event_id: str, session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    event = session.get(TriggerEvent, event_id)
    if event is None:
        raise Problem(404, "Event not found", f"no trigger event has id {event_id!r}")
    return {**_present(session, [event])[0], "payload": event.payload}


@router.post("/events/{event_id}/replay", status_code=202)
def replay(
    event_id: str,
    session: SessionDep,
    sender: SenderDep,
    _: TriggerAccess,
    idempotency_key: Annotated[str | None, Header(max_length=150)] = None,
) -> dict[str, Any]:
    event = session.get(TriggerEvent, event_id)
    if event is None:
        raise Problem(404, "Event not found", f"no trigger event has id {event_id!r}")
    try:
        accepted = replay_event(session, event=event, idempotency_key=idempotency_key)
    except NotReplayable as exc:
        raise Problem(409, "Not replayable", str(exc)) from exc
    session.commit()
    announce(sender, accepted)
    return {
        "event_id": accepted.event_id,
        "replay_of": event.duplicate_of_id or event.id,
        "duplicate": not accepted.created,
    }


class EventTest(BaseModel):
    hook: str | None = Field(default=None, description="test a webhook delivery to this hook")
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    file_url: str | None = Field(
        default=None, description="or: which file watches a file at this URL would trigger"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> EventTest:
        if (self.hook is None) == (self.file_url is None):
            raise ValueError("give either hook (with body, headers, query) or file_url")
        return self


@router.post("/events:test")
def test_event(body: EventTest, session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    if body.hook is not None:
        hook = workflows_repo.get_hook(session, name=body.hook)
        if hook is None:
            raise Problem(
                404,
                "Hook not found",
                f"no hook is named {body.hook!r}",
                errors=[{"path": "$.hook", "message": "names no hook"}],
            )
        result = dry_run.test_hook(
            hook,
            body=body.body if body.body is not None else {},
            headers=body.headers,
            query=body.query,
        )
        return {"kind": "webhook", **result.body()}

    def declared_for(name: str) -> dict[str, str]:
        workflow = workflows_repo.get_workflow_by_name(session, name=name)
        return workflow_triggers(workflow).parameters if workflow else {}

    result = dry_run.test_file(session, url=body.file_url or "", declared_for=declared_for)
    return {"kind": "file_arrival", **result.body()}

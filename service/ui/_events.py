"""The trigger ledger: every event with its verdict and the runs it made; an event's
page with its payload (secrets masked), replay behind a confirmation, and a "test this
payload" form that asks the same dry run as POST /api/v1/events:test."""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from service.api.problems import Problem
from service.api.routes import events as events_api
from service.store.models import Hook, TriggerEvent, Workflow
from service.store.repositories import events as events_repo
from service.store.repositories import workflows as workflows_repo
from service.ui._errors import UiError
from service.ui._queries import decode_cursor, encode_cursor, workflow_names
from service.ui._redact import redacted_payload
from service.ui._render import render, secure_headers
from service.ui._runs import TRIGGER_SOURCES, parse_moment
from service.ui._sessions import CheckedForm, SignedIn

router = APIRouter(prefix="/ui", include_in_schema=False)

PAGE_SIZE = 50
EVENT_SOURCES = (*TRIGGER_SOURCES, "databricks")


@router.get("/events", name="ui_events")
def events_page(
    request: Request,
    console: SignedIn,
    source: str | None = None,
    verdict: str | None = None,
    workflow: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before: str | None = None,
    fragment: bool = False,
) -> Response:
    if source and source not in EVENT_SOURCES:
        raise UiError(400, "Unknown source", f"source: use one of {', '.join(EVENT_SOURCES)}")
    if verdict and verdict not in events_api.VERDICTS:
        raise UiError(
            400, "Unknown verdict", f"verdict: use one of {', '.join(events_api.VERDICTS)}"
        )
    # Read before the page's own session: a second session inside it would wait on the
    # first (SQLite transactions here begin IMMEDIATE).
    version = "" if fragment else events_fingerprint(request)
    with request.app.state.sessions() as session:
        workflow_id: str | None = None
        missing_workflow = False
        if workflow:
            found = workflows_repo.get_workflow_by_name(session, name=workflow.strip())
            workflow_id = found.id if found else None
            missing_workflow = found is None
        events: list[TriggerEvent] = []
        if not missing_workflow:
            events = events_repo.list_events(
                session,
                where=events_repo.EventFilter(
                    source=source or None,
                    verdict=verdict or None,
                    workflow_id=workflow_id,
                    received_from=parse_moment(since, "since"),
                    received_before=parse_moment(until, "until"),
                ),
                after=decode_cursor(before) if before else None,
                limit=PAGE_SIZE + 1,
            )
        page, more = events[:PAGE_SIZE], len(events) > PAGE_SIZE
        ids = [e.id for e in page]
        runs = events_repo.runs_for_events(session, event_ids=ids)
        replays = events_repo.replays_of(session, event_ids=ids)
        names = workflow_names(session, {e.workflow_id for e in page if e.workflow_id})
        filters = {
            k: v
            for k, v in {
                "source": source,
                "verdict": verdict,
                "workflow": workflow,
                "since": since,
                "until": until,
            }.items()
            if v
        }
        context = {
            "events": page,
            "runs": runs,
            "replays": replays,
            "names": names,
            "older": encode_cursor(page[-1].received_at, page[-1].id) if more else None,
            "filters": filters,
            "sources": EVENT_SOURCES,
            "verdicts": events_api.VERDICTS,
            "first_page": before is None,
            "version": version,
        }
        return render(request, "events_live.html" if fragment else "events.html", context)


def _event_or_404(session: Any, event_id: str) -> TriggerEvent:
    event = session.get(TriggerEvent, event_id)
    if event is None:
        raise UiError(404, "Event not found", f"no trigger event has id {event_id!r}")
    return event


@router.get("/events/{event_id}", name="ui_event")
def event_page(
    request: Request, event_id: str, console: SignedIn, notice: str | None = None
) -> Response:
    with request.app.state.sessions() as session:
        event = _event_or_404(session, event_id)
        runs = events_repo.runs_for_events(session, event_ids=[event.id])
        replays = events_repo.replays_of(session, event_ids=[event.id]).get(event.id, [])
        replay_runs = events_repo.runs_for_events(session, event_ids=[r.id for r in replays])
        workflow = session.get(Workflow, event.workflow_id) if event.workflow_id else None
        payload = redacted_payload(event.payload, request.app.state.settings)
        return render(
            request,
            "event.html",
            {
                "event": event,
                "run": runs.get(event.id),
                "replays": replays,
                "replay_runs": replay_runs,
                "workflow": workflow,
                "payload_text": json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False),
                "parameters_text": json.dumps(
                    event.parameters, indent=2, sort_keys=True, ensure_ascii=False
                ),
                "replayable": event.workflow_id is not None
                and (event.verdict not in ("filtered", "rejected")),
                "notice": notice,
                "once": secrets.token_urlsafe(16),
            },
        )


@router.post("/events/{event_id}/replay")
def replay(request: Request, event_id: str, console: SignedIn, form: CheckedForm) -> Response:
    """Replays after the confirmation step: the form posts ``confirm=yes`` only from the
    confirmation page; without it, that page is shown."""
    principal = console.require("trigger")
    if form.get("confirm") != "yes":
        with request.app.state.sessions() as session:
            event = _event_or_404(session, event_id)
            names = workflow_names(session, {event.workflow_id} if event.workflow_id else set())
            return render(
                request,
                "replay_confirm.html",
                {
                    "event": event,
                    "workflow": names.get(event.workflow_id or ""),
                    "once": form.get("once") or secrets.token_urlsafe(16),
                },
            )
    with request.app.state.sessions() as session:
        try:
            result = events_api.replay(
                event_id,
                session,
                request.app.state.task_sender,
                principal,
                idempotency_key=f"console:{form.get('once')[:100]}" if form.get("once") else None,
            )
        except Problem as exc:
            raise UiError.from_problem(exc) from exc
    return secure_headers(
        RedirectResponse(f"/ui/events/{result['event_id']}?notice=replayed", status_code=303)
    )


def _hooks(request: Request) -> list[Hook]:
    with request.app.state.sessions() as session:
        return list(session.scalars(select(Hook).order_by(Hook.name)))


@router.get("/events-test", name="ui_event_test")
def test_form(request: Request, console: SignedIn, hook: str | None = None) -> Response:
    return render(
        request,
        "event_test.html",
        {
            "hooks": _hooks(request),
            "chosen": hook or "",
            "body": "{}",
            "headers": "",
            "query": "",
            "file_url": "",
            "result": None,
            "error": None,
        },
    )


def _pairs(text: str, field: str) -> dict[str, str]:
    """``Name: value`` lines (headers) or ``name=value`` lines (query) into a dict."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        separator = ":" if field == "headers" else "="
        name, sep, value = line.partition(separator)
        if not sep or not name.strip():
            raise UiError(
                400, "Bad test input", f"{field}, line {number}: write name{separator} value"
            )
        found[name.strip()] = value.strip()
    return found


@router.post("/events-test")
def test_payload(request: Request, console: SignedIn, form: CheckedForm) -> Response:
    principal = console.require("read")
    hook, file_url = form.get("hook").strip(), form.get("file_url").strip()
    body_text, headers_text, query_text = form.get("body"), form.get("headers"), form.get("query")
    context: dict[str, Any] = {
        "hooks": _hooks(request),
        "chosen": hook,
        "body": body_text,
        "headers": headers_text,
        "query": query_text,
        "file_url": file_url,
        "result": None,
        "error": None,
    }
    try:
        body: Any = json.loads(body_text) if body_text.strip() else {}
    except json.JSONDecodeError as exc:
        context["error"] = f"body: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        return render(request, "event_test.html", context, status_code=422)
    try:
        test = events_api.EventTest(
            hook=hook or None,
            body=body,
            headers=_pairs(headers_text, "headers"),
            query=_pairs(query_text, "query"),
            file_url=None if hook else (file_url or None),
        )
    except ValueError:
        context["error"] = "choose a hook, or give a file URL"
        return render(request, "event_test.html", context, status_code=422)
    with request.app.state.sessions() as session:
        try:
            context["result"] = events_api.test_event(test, session, principal)
        except Problem as exc:
            context["error"] = UiError.from_problem(exc).detail or exc.title
            return render(request, "event_test.html", context, status_code=exc.status)
    return render(request, "event_test.html", context)


def events_fingerprint(request: Request) -> str:
    """For the ledger's stream: a new event moves the newest ``received_at``, and a
    dispatch takes an event out of the undecided count (both indexed)."""
    with request.app.state.sessions() as session:
        newest = session.scalar(select(func.max(TriggerEvent.received_at)))
        undecided = session.scalar(
            select(func.count()).select_from(TriggerEvent).where(TriggerEvent.verdict.is_(None))
        )
    return f"{newest.isoformat() if newest else '-'}:{undecided}"

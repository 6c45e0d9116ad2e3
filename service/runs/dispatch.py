"""Trigger event → Run. The event is claimed with a conditional update, so a second
dispatch of the same event (a redelivered message, the sweeper) makes no second run;
the workflow's concurrency limit then lets the run through, queues it, or skips it."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from service.runs.concurrency import admit
from service.runs.options import EngineOptions, engine_options
from service.settings import Settings, get_settings
from service.store.models import TriggerEvent, Workflow
from service.store.repositories import events as events_repo
from service.workflows import WorkflowInvalid, parse_workflow

log = logging.getLogger(__name__)


def workflow_options(workflow: Workflow | None, settings: Settings) -> EngineOptions | None:
    """The workflow's engine options, or None when it cannot be parsed (submission then
    records why the run cannot start)."""
    if workflow is None:
        return None
    try:
        return engine_options(parse_workflow(workflow.source), settings)
    except WorkflowInvalid:
        return None


def dispatch_event(
    session: Session, *, event_id: str, settings: Settings | None = None
) -> str | None:
    """Returns the id of the run to submit now, or None when the event was already
    dispatched, or its run was queued or skipped."""
    if not events_repo.claim_event_for_dispatch(session, event_id=event_id):
        return None
    event = session.get(TriggerEvent, event_id)
    if event is None or event.workflow_id is None:
        # Claimed rows exist (only a concurrent delete gets here), and events without a
        # workflow are never received for dispatch.
        return None
    options = workflow_options(session.get(Workflow, event.workflow_id), settings or get_settings())
    admission = admit(session, event=event, options=options)
    log.info(
        "event %s",
        admission.verdict,
        extra={"event_id": event.id, "run_id": admission.run_id, "reason": admission.reason},
    )
    return admission.run_id if admission.submit_now else None

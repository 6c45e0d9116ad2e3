"""Trigger event → Run. The event is claimed with a conditional update, so a second
dispatch of the same event (a redelivered message, the sweeper) makes no second run."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from service.store.models import TriggerEvent
from service.store.repositories import events as events_repo
from service.store.repositories import runs as runs_repo

log = logging.getLogger(__name__)


def dispatch_event(session: Session, *, event_id: str) -> str | None:
    """Returns the id of the run to submit, or None when the event was already dispatched
    (its run, if any, is the sweeper's to push on)."""
    if not events_repo.claim_event_for_dispatch(session, event_id=event_id):
        return None
    event = session.get(TriggerEvent, event_id)
    if event is None:  # claimed rows exist; only a concurrent delete gets here
        return None
    run = runs_repo.create_run(
        session,
        workflow_id=event.workflow_id,
        trigger_event_id=event.id,
        parameters=dict(event.parameters),
    )
    log.info("event dispatched", extra={"event_id": event.id, "run_id": run.id})
    return run.id

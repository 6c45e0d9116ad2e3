"""max_concurrent_runs per workflow: let a trigger's run through, queue it, or skip it.

Slot accounting is serialised per workflow (the workflow row is locked in the caller's
transaction), so two dispatchers can never both take the last slot. A run holds a slot
from the moment it is let through until it ends for good (a run waiting to retry keeps
its slot). Queued runs are let through first come, first served when slots free up; a
run queued longer than the workflow's maximum wait is skipped. The verdict (dispatched,
queued, skipped) and its reason are written on the trigger event for the ledger.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.runs.options import EngineOptions
from service.store.models import Run, RunStatus, TriggerEvent
from service.store.repositories import runs as runs_repo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Admission:
    run_id: str | None  # None: skipped, no run made
    verdict: str  # dispatched | queued | skipped
    reason: str | None

    @property
    def submit_now(self) -> bool:
        return self.verdict == "dispatched" and self.run_id is not None


def admit(session: Session, *, event: TriggerEvent, options: EngineOptions | None) -> Admission:
    """Makes the event's run (or not) under the workflow's concurrency limit. ``options``
    None (an invalid workflow) lets the run through: submission reports the problem."""
    if options is None:
        return _let_through(session, event, reason=None)
    runs_repo.lock_workflow(session, workflow_id=_workflow_id(event))
    limit = options.max_concurrent_runs
    active = runs_repo.count_runs(
        session, workflow_id=_workflow_id(event), statuses=runs_repo.SLOT_HOLDING
    )
    queued = runs_repo.count_runs(
        session, workflow_id=_workflow_id(event), statuses=(RunStatus.QUEUED,)
    )
    # A queue that already holds runs keeps them first, even if a slot just freed.
    if active < limit and queued == 0:
        return _let_through(session, event, reason=None)
    at_limit = f"max_concurrent_runs ({limit}) reached: {active} active"
    if limit == 0 or options.on_limit == "skip":
        return _skip(session, event, reason=at_limit)
    if queued >= options.max_queued:
        return _skip(session, event, reason=f"{at_limit}; queue full ({queued} waiting)")
    run = runs_repo.create_run(
        session,
        workflow_id=_workflow_id(event),
        trigger_event_id=event.id,
        parameters=dict(event.parameters),
        status=RunStatus.QUEUED,
    )
    reason = f"{at_limit}; queued behind {queued}"
    runs_repo.record_verdict(session, event_id=event.id, verdict="queued", reason=reason)
    return Admission(run_id=run.id, verdict="queued", reason=reason)


def _let_through(session: Session, event: TriggerEvent, *, reason: str | None) -> Admission:
    run = runs_repo.create_run(
        session,
        workflow_id=_workflow_id(event),
        trigger_event_id=event.id,
        parameters=dict(event.parameters),
    )
    runs_repo.record_verdict(session, event_id=event.id, verdict="dispatched", reason=reason)
    return Admission(run_id=run.id, verdict="dispatched", reason=reason)


def _skip(session: Session, event: TriggerEvent, *, reason: str) -> Admission:
    runs_repo.record_verdict(session, event_id=event.id, verdict="skipped", reason=reason)
    log.info("trigger skipped: %s", reason, extra={"event_id": event.id})
    return Admission(run_id=None, verdict="skipped", reason=reason)


@dataclass
class Promotion:
    run_ids: list[str] = field(default_factory=list)  # let through: send for submission
    expired: list[Run] = field(default_factory=list)  # waited too long: skipped


def promote_queued(
    session: Session, *, workflow_id: str, options: EngineOptions, now: datetime
) -> Promotion:
    """Lets queued runs through into free slots, oldest first; skips those that waited
    longer than the workflow allows."""
    promotion = Promotion()
    runs_repo.lock_workflow(session, workflow_id=workflow_id)
    max_wait = timedelta(seconds=options.max_queue_wait_seconds)
    free = options.max_concurrent_runs - runs_repo.count_runs(
        session, workflow_id=workflow_id, statuses=runs_repo.SLOT_HOLDING
    )
    for run in runs_repo.oldest_queued_runs(session, workflow_id=workflow_id, limit=500):
        waited = now - run.requested_at
        if waited > max_wait:
            message = f"waited {waited.total_seconds():.0f} s in the queue (at most {max_wait})"
            if runs_repo.set_status(
                session,
                run_id=run.id,
                expected=(RunStatus.QUEUED,),
                status=RunStatus.SKIPPED,
                state_message=message,
                ended_at=now,
            ):
                runs_repo.record_verdict(
                    session, event_id=run.trigger_event_id, verdict="skipped", reason=message
                )
                session.refresh(run)
                promotion.expired.append(run)
            continue
        if free <= 0:
            continue
        if runs_repo.set_status(
            session, run_id=run.id, expected=(RunStatus.QUEUED,), status=RunStatus.REQUESTED
        ):
            free -= 1
            runs_repo.record_verdict(
                session,
                event_id=run.trigger_event_id,
                verdict="dispatched",
                reason=f"after {waited.total_seconds():.1f} s in the queue",
            )
            promotion.run_ids.append(run.id)
    return promotion


def _workflow_id(event: TriggerEvent) -> str:
    # Only events that name a workflow are received for dispatch (see dispatch_event).
    if event.workflow_id is None:
        raise ValueError(f"event {event.id} names no workflow to run")
    return event.workflow_id

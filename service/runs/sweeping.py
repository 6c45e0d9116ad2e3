"""What the sweeper re-sends: work committed but not moved on within ``stuck_after``,
retries that are due, and queued runs that a freed slot (or a too-long wait) concerns.

This is what makes a lost Celery message harmless: a crash between commit and publish,
a Redis restart or a worker killed mid-task leaves a row in a waiting state, and the
next sweep publishes it again. Every task it feeds is safe to run twice. Long waits
(retry backoff, a parked submission) live in ``next_attempt_at``, read here, never in
broker countdowns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.runs.concurrency import promote_queued
from service.runs.dispatch import workflow_options
from service.runs.finishing import finish_run
from service.settings import Settings
from service.store.models import Workflow
from service.store.repositories import alerts as alerts_repo
from service.store.repositories import events as events_repo
from service.store.repositories import runs as runs_repo


@dataclass(frozen=True)
class StuckWork:
    event_ids: list[str]
    run_ids: list[str]
    delivery_ids: list[str]


def find_stuck_work(session: Session, *, now: datetime, stuck_after: timedelta) -> StuckWork:
    older_than = now - stuck_after
    return StuckWork(
        event_ids=events_repo.undispatched_event_ids(session, older_than=older_than),
        run_ids=runs_repo.stuck_unsubmitted_run_ids(session, older_than=older_than, now=now),
        delivery_ids=alerts_repo.due_delivery_ids(session, now=now),
    )


@dataclass
class QueueSweep:
    run_ids: list[str] = field(default_factory=list)  # let through: send for submission
    alert_delivery_ids: list[str] = field(default_factory=list)  # skipped after waiting


def sweep_queues(session: Session, *, settings: Settings, now: datetime) -> QueueSweep:
    """Lets queued runs through where slots are free and skips those that waited too
    long. The poller does this when a run ends; the sweep catches the rest (a slot freed
    by a run cancelled before it was submitted, a queue's maximum wait running out)."""
    result = QueueSweep()
    for workflow_id in runs_repo.queued_workflow_ids(session):
        options = workflow_options(session.get(Workflow, workflow_id), settings)
        if options is None:
            continue
        promotion = promote_queued(session, workflow_id=workflow_id, options=options, now=now)
        result.run_ids += promotion.run_ids
        for run in promotion.expired:
            result.alert_delivery_ids += finish_run(session, run=run, settings=settings)
    return result

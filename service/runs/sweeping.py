"""What the sweeper re-sends: work committed but not moved on within ``stuck_after``.

This is what makes a lost Celery message harmless: a crash between commit and publish,
a Redis restart or a worker killed mid-task leaves a row in a waiting state, and the
next sweep publishes it again. Every task it feeds is safe to run twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

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
        run_ids=runs_repo.stuck_unsubmitted_run_ids(session, older_than=older_than),
        delivery_ids=alerts_repo.due_delivery_ids(session, now=now),
    )

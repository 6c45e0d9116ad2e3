"""Expectations: absence triggers. "A file under ``location`` (or a successful run of
``workflow_name``) by each occurrence of ``deadline_cron`` in ``timezone``", e.g. by
06:00 Europe/Berlin on weekdays (``0 0 6 ? * MON-FRI``).

At each deadline the scheduler looks back over the window since the previous deadline
(since the expectation was made, the first time). Nothing there is a miss: an
``expectation.missed`` alert event, which the alert policy routes like any other. A
deadline is checked once: the row's ``next_deadline_at`` moves on in the same
transaction as the alert rows, and alert events are unique per (expectation, deadline).
After downtime only the latest passed deadline is checked.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.settings import Settings
from service.store.models import Run, RunStatus, Workflow
from service.store.models.triggers import Expectation
from service.triggers import cron
from service.triggers.blob_listing import scan
from service.triggers.blob_locations import LocationInvalid, open_store, parse_location
from service.triggers.ledger import AcceptedTrigger, emit_alert_event

log = logging.getLogger(__name__)


def first_deadline(deadline_cron: str, timezone: str, now: datetime) -> datetime:
    fire = cron.next_fire(cron.parse(deadline_cron, timezone), now)
    if fire is None:
        raise cron.CronError(f"`{deadline_cron}` never comes due")
    return fire


def check_due_expectations(
    session: Session, *, now: datetime, settings: Settings, limit: int = 100
) -> list[AcceptedTrigger]:
    due = session.scalars(
        select(Expectation)
        .where(Expectation.next_deadline_at <= now)
        .order_by(Expectation.next_deadline_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    alerts: list[AcceptedTrigger] = []
    for expectation in due:
        spec = cron.parse(expectation.deadline_cron, expectation.timezone)
        deadline = expectation.next_deadline_at
        # After downtime, only the latest deadline that has passed is checked.
        while (following := cron.next_fire(spec, deadline)) is not None and following <= now:
            deadline = following
        window_start = expectation.last_deadline_at or expectation.created_at
        met, detail = _met(session, expectation, window_start, deadline, settings)
        expectation.last_deadline_at = deadline
        expectation.last_outcome = "met" if met else "missed"
        expectation.last_detail = detail
        expectation.next_deadline_at = following or deadline.replace(year=9999)
        if not met:
            ids = emit_alert_event(
                session,
                event_type="expectation.missed",
                workflow_name=expectation.workflow_name,
                detail={
                    "expectation": expectation.name,
                    "deadline": deadline.isoformat(),
                    "window_start": window_start.isoformat(),
                    **detail,
                },
                settings=settings,
            )
            log.info("expectation missed", extra={"expectation": expectation.name})
            alerts.append(AcceptedTrigger(event_id="", created=False, alert_ids=tuple(ids)))
    return alerts


def _met(
    session: Session,
    expectation: Expectation,
    start: datetime,
    deadline: datetime,
    settings: Settings,
) -> tuple[bool, dict[str, str]]:
    if expectation.kind == "run":
        run = session.scalars(
            select(Run)
            .join(Workflow, Workflow.id == Run.workflow_id)
            .where(
                Workflow.name == expectation.workflow_name,
                Run.status == RunStatus.SUCCEEDED,
                Run.ended_at > start,
                Run.ended_at <= deadline,
            )
            .limit(1)
        ).first()
        return run is not None, ({"run_id": run.id} if run else {"wanted": "a successful run"})
    try:
        location = parse_location(expectation.location or "")
        store = open_store(location, settings)
    except LocationInvalid as exc:
        return False, {"error": str(exc)}
    try:
        for entry in scan(store, location.prefix, None):
            if entry.last_modified is not None and start < entry.last_modified <= deadline:
                return True, {"file": location.url_of(entry.name)}
    finally:
        store.close()
    return False, {"wanted": f"a file under {expectation.location}"}

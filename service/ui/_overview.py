"""The overview page: the last 24 hours at a glance, kept live by the page's stream."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from service.store.models import AlertDelivery, DeliveryStatus, Run, RunStatus, TriggerEvent, utcnow
from service.ui._jobs_api import JobsApiUse, jobs_api_use
from service.ui._queries import workflow_names
from service.ui._render import render
from service.ui._sessions import SignedIn, session_redis

router = APIRouter(prefix="/ui", include_in_schema=False)

WINDOW = timedelta(hours=24)
ACTIVE_SHOWN = 20
# Runs that are "going on now": handed to Databricks or on their way there.
NOW_ACTIVE = (RunStatus.SUBMITTING, RunStatus.PENDING, RunStatus.RUNNING)


@dataclass(frozen=True)
class ActiveRun:
    id: str
    workflow: str | None
    status: str
    started_at: datetime | None


@dataclass(frozen=True)
class Overview:
    since: datetime
    runs_by_state: list[tuple[str, int]]
    events_by_source: list[tuple[str, str, int]]  # source, verdict, count
    deliveries: dict[str, int]  # pending, failing (pending after a failed try), dead
    active_count: int
    active: list[ActiveRun]

    def fingerprint(self, jobs: JobsApiUse) -> str:
        """Changes whenever anything the page shows changes (the stream's trigger)."""
        facts = {
            "runs": self.runs_by_state,
            "events": self.events_by_source,
            "deliveries": self.deliveries,
            "active": [(a.id, a.status) for a in self.active],
            "active_count": self.active_count,
            "calls": jobs.calls,
            "budgets": [(b.workspace, b.request_class, b.used_percent) for b in jobs.budgets],
        }
        return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()[:16]


def overview(session: Session, *, now: datetime) -> Overview:
    since = now - WINDOW
    runs = session.execute(
        select(Run.status, func.count()).where(Run.requested_at >= since).group_by(Run.status)
    )
    events = session.execute(
        select(TriggerEvent.source, TriggerEvent.verdict, func.count())
        .where(TriggerEvent.received_at >= since)
        .group_by(TriggerEvent.source, TriggerEvent.verdict)
    )
    failing = case((AlertDelivery.attempts > 0, 1), else_=0)
    deliveries = {"pending": 0, "failing": 0, "dead": 0}
    for status, tried, count in session.execute(
        select(AlertDelivery.status, failing, func.count())
        .where(AlertDelivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.DEAD)))
        .group_by(AlertDelivery.status, failing)
    ):
        if status == DeliveryStatus.DEAD:
            deliveries["dead"] += count
        else:
            deliveries["failing" if tried else "pending"] += count
    active_count = session.scalar(
        select(func.count()).select_from(Run).where(Run.status.in_(NOW_ACTIVE))
    )
    active_runs = list(
        session.scalars(
            select(Run)
            .where(Run.status.in_(NOW_ACTIVE))
            .order_by(Run.requested_at.desc(), Run.id.desc())
            .limit(ACTIVE_SHOWN)
        )
    )
    names = workflow_names(session, {r.workflow_id for r in active_runs})
    return Overview(
        since=since,
        runs_by_state=sorted(((s, c) for s, c in runs), key=lambda item: -item[1]),
        events_by_source=sorted(
            ((source, verdict or "received", c) for source, verdict, c in events),
            key=lambda item: (item[0], -item[2]),
        ),
        deliveries=deliveries,
        active_count=int(active_count or 0),
        active=[
            ActiveRun(r.id, names.get(r.workflow_id), r.status, r.started_at) for r in active_runs
        ],
    )


def overview_fingerprint(request: Request) -> str:
    """For the live stream: the page's facts, hashed."""
    with request.app.state.sessions() as session:
        facts = overview(session, now=utcnow())
    jobs = jobs_api_use(session_redis(request), request.app.state.settings)
    return facts.fingerprint(jobs)


@router.get("", name="ui_overview")
@router.get("/", include_in_schema=False)
def overview_page(request: Request, console: SignedIn, fragment: bool = False) -> Response:
    with request.app.state.sessions() as session:
        facts = overview(session, now=utcnow())
    jobs = jobs_api_use(session_redis(request), request.app.state.settings)
    context = {"overview": facts, "jobs": jobs}
    if fragment:
        return render(request, "overview_live.html", context)
    return render(request, "overview.html", context)

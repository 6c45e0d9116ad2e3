"""Events become alert deliveries: decide who is told (pure policy), record one row each.

The rows are written in the caller's transaction, so an ending that is committed is an
ending that will be alerted, and reporting the same occurrence twice (an ending observed
by two sweeps, an emitter retried after a crash) adds nothing: each row's ``dedupe_key``
names the occurrence and the target. The ids returned are the rows to send once the
caller has committed; a lost send is picked up by the sweeper.

Callers:

- ``finish_run`` when a run reaches a terminal state (the poller, the submitter);
- ``emit_run_event`` for everything else that happens to a run (started, retrying,
  retries exhausted, duration warning);
- ``emit_event`` for events that have no run (trigger rejected, expectation missed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.alerts import (
    WorkflowAlerting,
    event_payload,
    failing_tasks,
    run_payload,
    subscription_routes,
    workflow_alerting,
)
from service.policies.alerting import AlertEvent, AlertRoutes, PastAlert, route
from service.settings import Settings, get_settings
from service.store.models import DeliveryStatus, Run, RunStatus, TriggerEvent, Workflow, utcnow
from service.store.repositories import alerts as alerts_repo
from service.store.repositories.workflows import get_workflow_by_name

# A run's terminal status to the event that announces it; TIMEDOUT is read from the
# result state because Lockgate files a timed-out run under ``failed``.
_TERMINAL_EVENTS = {
    RunStatus.SUCCEEDED: "run.succeeded",
    RunStatus.FAILED: "run.failed",
    RunStatus.CANCELED: "run.canceled",
    RunStatus.SKIPPED: "run.skipped",
    RunStatus.ERROR: "run.failed",
}


def finish_run(
    session: Session, *, run: Run, settings: Settings | None = None, now: datetime | None = None
) -> list[str]:
    """Alerts a run's end. Returns the ids of the deliveries to send once committed."""
    if (run.result_state or "").upper() == "TIMEDOUT":
        event_type = "run.timed_out"
    else:
        event_type = _TERMINAL_EVENTS.get(run.status, "run.failed")
    return emit_run_event(session, run=run, event_type=event_type, settings=settings, now=now)


def emit_run_event(
    session: Session,
    *,
    run: Run,
    event_type: str,
    detail: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Records the alerts for one event of a run (see ``service.policies.alerting`` for
    the event types). ``detail`` adds event-specific facts to the payload (for a duration
    warning: the limit and the elapsed seconds; for a retry: the next attempt)."""
    settings = settings or get_settings()
    moment = now or utcnow()
    workflow = session.get(Workflow, run.workflow_id)
    if workflow is None:
        return []
    alerting = workflow_alerting(workflow.source)
    trigger = session.get(TriggerEvent, run.trigger_event_id)
    payload = run_payload(
        event_type=event_type,
        occurred_at=moment,
        run=run,
        workflow_name=workflow.name,
        workflow_tags=alerting.tags,
        trigger=trigger,
        lockgate_base_url=settings.lockgate_base_url,
        detail=detail,
    )
    # One alert per run, attempt and event type: a retried run's second failure is a new
    # occurrence, the same failure seen twice is not.
    event = AlertEvent(
        event_type=event_type,
        occurrence=f"run:{run.id}:{run.attempt}",
        occurred_at=moment,
        workflow_name=workflow.name,
        workflow_tags=alerting.tags,
        failing_tasks=tuple(t.task_key for t in failing_tasks(run.tasks)),
    )
    return _record(session, event, payload, alerting, settings, run_id=run.id)


def emit_event(
    session: Session,
    *,
    event_type: str,
    workflow_name: str | None,
    detail: Mapping[str, Any],
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Records the alerts for an event without a run. ``detail`` should carry what makes
    this occurrence itself (a trigger event id, an expectation and its deadline): the same
    detail emitted twice is one occurrence."""
    settings = settings or get_settings()
    moment = now or utcnow()
    workflow = get_workflow_by_name(session, name=workflow_name) if workflow_name else None
    alerting = workflow_alerting(workflow.source) if workflow else WorkflowAlerting()
    payload = event_payload(
        event_type=event_type,
        occurred_at=moment,
        workflow_name=workflow_name,
        workflow_tags=alerting.tags,
        detail=detail,
    )
    digest = hashlib.sha256(
        json.dumps(dict(detail), sort_keys=True, default=str).encode()
    ).hexdigest()
    event = AlertEvent(
        event_type=event_type,
        occurrence=f"event:{workflow_name or ''}:{digest}",
        occurred_at=moment,
        workflow_name=workflow_name,
        workflow_tags=alerting.tags,
    )
    return _record(session, event, payload, alerting, settings, run_id=None)


def _record(
    session: Session,
    event: AlertEvent,
    payload: dict[str, Any],
    alerting: WorkflowAlerting,
    settings: Settings,
    *,
    run_id: str | None,
) -> list[str]:
    routes = AlertRoutes(
        routes=alerting.routes + subscription_routes(session),
        no_alert_for_skipped_runs=alerting.no_alert_for_skipped_runs,
        no_alert_for_canceled_runs=alerting.no_alert_for_canceled_runs,
        alert_on_last_attempt=alerting.alert_on_last_attempt,
        dedupe_window=timedelta(seconds=settings.alert_dedupe_window_seconds),
        throttle_window=timedelta(seconds=settings.alert_throttle_window_seconds),
        throttle_limit=settings.alert_throttle_limit,
    )
    history = _history(session, event, routes)
    delivery_ids: list[str] = []
    for request in route(event, routes, history):
        body = payload
        if request.suppressed_since_last:
            body = {**payload, "suppressed_since_last_alert": request.suppressed_since_last}
        delivery = alerts_repo.insert_delivery(
            session,
            run_id=run_id,
            event_type=request.event_type,
            channel=request.channel,
            target=request.target,
            # A fresh dict per row: rows are stored and rendered independently.
            payload=json.loads(json.dumps(body, default=str)),
            dedupe_key=request.dedupe_key,
            alert_key=request.alert_key,
            workflow_name=event.workflow_name,
            format=request.format,
            channel_name=request.channel_name,
            subscription_id=request.subscription_id,
            status=DeliveryStatus.SUPPRESSED if request.folded_into else DeliveryStatus.PENDING,
            folded_into_id=request.folded_into,
            now=event.occurred_at,
        )
        if delivery is None:
            continue  # this occurrence already reached this target
        if request.folded_into:
            alerts_repo.count_occurrence(
                session, delivery_id=request.folded_into, at=event.occurred_at
            )
        else:
            delivery_ids.append(delivery.id)
    return delivery_ids


def _history(session: Session, event: AlertEvent, routes: AlertRoutes) -> list[PastAlert]:
    reach = max(routes.dedupe_window, routes.throttle_window)
    return [
        PastAlert(
            delivery_id=d.id,
            channel="email" if d.channel == "email" else "webhook",
            target=d.target,
            alert_key=d.alert_key,
            workflow_name=d.workflow_name,
            created_at=d.created_at,
            sent=d.status != DeliveryStatus.PENDING,
            unsent_occurrences=d.unsent_occurrences,
        )
        for d in alerts_repo.recent_alerts(
            session,
            workflow_name=event.workflow_name,
            event_type=event.event_type,
            since=event.occurred_at - reach,
        )
    ]

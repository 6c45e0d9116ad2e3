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
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from service.alerts import (
    WorkflowAlerting,
    event_payload,
    failing_tasks,
    run_payload,
    subscription_routes,
    workflow_alerting,
)
from service.alerts._recording import past_alert, record_requests
from service.policies.alerting import AlertEvent, AlertRoutes, PastAlert, route
from service.settings import Settings, get_settings
from service.store.models import Run, RunStatus, TriggerEvent, Workflow, utcnow
from service.store.repositories import alerts as alerts_repo
from service.store.repositories.workflows import get_workflow_by_name

if TYPE_CHECKING:
    from service.triggers.ledger import AcceptedTrigger

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
    session: Session,
    *,
    run: Run,
    detail: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
    now: datetime | None = None,
    fired: list[AcceptedTrigger] | None = None,
) -> list[str]:
    """Alerts a run's end. Returns the ids of the deliveries to send once committed.

    The end also counts for the job-completion triggers downstream of the run's workflow,
    in this transaction; their fires are added to ``fired`` for the caller to announce
    once committed (without ``fired``, the sweeper dispatches them)."""
    ids = emit_run_event(
        session,
        run=run,
        event_type=terminal_event_type(run),
        detail=detail,
        settings=settings,
        now=now,
    )
    from service.triggers.job_completion import on_workflow_run_ended  # triggers import runs

    accepted = on_workflow_run_ended(session, run=run, now=now or utcnow())
    if fired is not None:
        fired.extend(accepted)
    return ids


def terminal_event_type(run: Run) -> str:
    """The event that announces the end of ``run`` (already given its terminal state)."""
    if (run.result_state or "").upper() == "TIMEDOUT":
        return "run.timed_out"
    return _TERMINAL_EVENTS.get(run.status, "run.failed")


def emit_run_event(
    session: Session,
    *,
    run: Run,
    event_type: str,
    detail: Mapping[str, Any] | None = None,
    covered_by: Collection[str] = (),
    settings: Settings | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Records the alerts for one event of a run (see ``service.policies.alerting`` for
    the event types). ``detail`` adds event-specific facts to the payload (for a duration
    warning: the limit and the elapsed seconds; for a retry: the next attempt).
    ``covered_by``: event types emitted for the same attempt alongside this one; targets
    that heard one of those are not told this one too."""
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
        covered_by=frozenset(covered_by),
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
        dedupe_window=timedelta(seconds=settings.alert_dedupe_window_seconds),
        throttle_window=timedelta(seconds=settings.alert_throttle_window_seconds),
        throttle_limit=settings.alert_throttle_limit,
    )
    requests = route(event, routes, _history(session, event, routes))
    return record_requests(session, event, requests, payload, run_id=run_id)


def _history(session: Session, event: AlertEvent, routes: AlertRoutes) -> list[PastAlert]:
    reach = max(routes.dedupe_window, routes.throttle_window)
    return [
        past_alert(d)
        for d in alerts_repo.recent_alerts(
            session,
            workflow_name=event.workflow_name,
            event_type=event.event_type,
            since=event.occurred_at - reach,
        )
    ]

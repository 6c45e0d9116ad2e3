"""Alerts for runs of Databricks jobs that Lockgate did not start.

The workspace watcher sees every run that ends in a workspace. Most are of no interest
here: only subscriptions that name jobs or job tags hear a job Lockgate did not start
(the rule and its reason are in ``service.policies.alerting``). So the watcher reads the
routes once per pass (``job_alert_routes``), asks ``wants_job_run`` for each ending
(no I/O), and only for the endings someone could hear fetches ``runs/get`` and the
failed tasks' ``get-output`` and calls ``record_job_run_alerts`` in its transaction.

Invariants a caller relies on:

- Rows are written in the caller's transaction and the caller commits, then sends
  ``DELIVER_ALERT`` for each id returned; a lost send is picked up by the sweeper.
- One ending (workspace + run id + repair id) is one occurrence: recording it twice
  (a watcher pass retried, two replicas) adds no delivery, because each row's unique
  ``dedupe_key`` is derived from that occurrence and the target.
- Lockgate's own runs (``ended.lockgate_run_id``) are alerted through their workflow when
  they finish; they are never alerted again here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from service.alerts._job_content import failing_task_keys, job_run_payload
from service.alerts._recording import past_alert, record_requests
from service.alerts._routes import subscription_routes
from service.policies.alerting import AlertEvent, AlertRoutes, PastAlert, Route, matches, route
from service.settings import Settings
from service.store.models import utcnow
from service.store.repositories import alerts as alerts_repo

if TYPE_CHECKING:
    from service.databricks.models import RunInfo
    from service.workspace.ended_runs import EndedRun

log = logging.getLogger(__name__)

_SUCCESS_RESULTS = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})
_CANCELED_TERMINATIONS = frozenset({"CANCELED", "USER_CANCELED"})

__all__ = ["job_alert_routes", "job_event_type", "record_job_run_alerts", "wants_job_run"]


def job_alert_routes(session: Session) -> tuple[Route, ...]:
    """The subscriptions that name jobs or job tags: the only ones a job's run can reach."""
    return tuple(candidate for candidate in subscription_routes(session) if candidate.names_jobs)


def job_event_type(ended: EndedRun) -> str:
    """The alert event an ending is: Databricks' result first, then its life cycle."""
    result = (ended.result_state or "").upper()
    termination = (ended.termination_code or "").upper()
    if result in _SUCCESS_RESULTS:
        return "run.succeeded"
    if result == "TIMEDOUT":
        return "run.timed_out"
    if result == "CANCELED" or (not result and termination in _CANCELED_TERMINATIONS):
        return "run.canceled"
    if ended.life_cycle_state.upper() == "SKIPPED" or termination == "SKIPPED":
        return "run.skipped"
    return "run.failed"


def wants_job_run(routes: Iterable[Route], ended: EndedRun) -> bool:
    """Could any of ``routes`` hear this ending? Decides whether the watcher spends a
    runs/get (and get-output calls) on it."""
    event = _event(ended, failing_tasks=(), now=utcnow())
    return event is not None and any(matches(candidate, event) for candidate in routes)


def record_job_run_alerts(
    session: Session,
    *,
    ended: EndedRun,
    run: RunInfo | None,
    task_errors: Mapping[str, str],
    settings: Settings,
    now: datetime | None = None,
) -> list[str]:
    """Records the alerts for one ending of a job's run. ``run`` is its runs/get answer
    (None if not fetched), ``task_errors`` the get-output error of each failed task.
    Returns the ids of the deliveries to send once the caller has committed."""
    moment = now or utcnow()
    event = _event(ended, failing_tasks=failing_task_keys(run, task_errors), now=moment)
    if event is None:
        return []
    routes = AlertRoutes(
        routes=job_alert_routes(session),
        dedupe_window=timedelta(seconds=settings.alert_dedupe_window_seconds),
        throttle_window=timedelta(seconds=settings.alert_throttle_window_seconds),
        throttle_limit=settings.alert_throttle_limit,
    )
    if not any(matches(candidate, event) for candidate in routes.routes):
        return []
    payload = job_run_payload(
        event_type=event.event_type,
        occurred_at=moment,
        ended=ended,
        run=run,
        task_errors=task_errors,
    )
    delivery_ids = _record(session, event, payload, routes)
    log.info(
        "job run alerted",
        extra={
            "workspace": ended.workspace,
            "databricks_run_id": ended.run_id,
            "event_type": event.event_type,
            "deliveries": len(delivery_ids),
        },
    )
    return delivery_ids


def _event(ended: EndedRun, *, failing_tasks: tuple[str, ...], now: datetime) -> AlertEvent | None:
    # Lockgate's own runs are its workflows' business; a one-time run (runs/submit) or a
    # job deleted since has no job for a selector to name.
    if ended.lockgate_run_id is not None or ended.job is None:
        return None
    return AlertEvent(
        event_type=job_event_type(ended),
        # The ending itself: the original run and each repair of it end once each.
        occurrence=f"job-run:{ended.workspace}:{ended.dedupe_key}",
        occurred_at=now,
        failing_tasks=failing_tasks,
        job_id=str(ended.job.job_id),
        job_name=ended.job.name,
        job_tags={str(k): str(v) for k, v in ended.job.tags.items()},
        workspace=ended.workspace,
    )


def _record(
    session: Session, event: AlertEvent, payload: dict[str, Any], routes: AlertRoutes
) -> list[str]:
    requests = route(event, routes, _history(session, event, routes))
    return record_requests(session, event, requests, payload, run_id=None)


def _history(session: Session, event: AlertEvent, routes: AlertRoutes) -> list[PastAlert]:
    # Alerts without a workflow of this event type; the job each was about is read back
    # from its payload, so the throttle counts per job, not across the workspace.
    reach = max(routes.dedupe_window, routes.throttle_window)
    return [
        past_alert(d, job_key=_job_key(d.payload))
        for d in alerts_repo.recent_alerts(
            session,
            workflow_name=None,
            event_type=event.event_type,
            since=event.occurred_at - reach,
        )
    ]


def _job_key(payload: Mapping[str, Any]) -> str | None:
    """``AlertEvent.job_key`` of the event a stored payload was built for."""
    job = payload.get("job")
    if not isinstance(job, Mapping) or job.get("id") is None:
        return None
    return f"{job.get('workspace') or ''}/{job['id']}"

"""A run has ended: decide who is told (pure policy) and record one delivery per target.

The deliveries are rows in the same transaction as the run's terminal state, so an
ending that is written is an ending that will be alerted, and observing the same ending
twice adds nothing (deliveries are unique per run, event, channel and target)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.policies.alerting import AlertRoutes, FailedTask, RunOutcome, route
from service.runs.states import FAILED_TASK_RESULTS
from service.store.models import Run, TriggerEvent, Workflow, utcnow
from service.store.repositories import alerts as alerts_repo
from service.workflows import WorkflowInvalid, parse_workflow


def finish_run(session: Session, *, run: Run) -> list[str]:
    """Returns the ids of the alert deliveries to send once the caller commits."""
    workflow = session.get(Workflow, run.workflow_id)
    if workflow is None:
        return []
    try:
        email, webhook = parse_workflow(workflow.source).alert_routes()
    except WorkflowInvalid:
        return []
    event = session.get(TriggerEvent, run.trigger_event_id)
    outcome = RunOutcome(
        run_id=run.id,
        workflow_name=workflow.name,
        event_id=run.trigger_event_id,
        trigger_source=event.source if event else None,
        result_state=run.result_state or run.status.upper(),
        state_message=run.state_message,
        databricks_run_id=run.databricks_run_id,
        run_page_url=run.run_page_url,
        started_at=run.started_at,
        ended_at=run.ended_at or utcnow(),
        failed_tasks=tuple(
            FailedTask(task_key=t.task_key, result_state=t.result_state or "", error=t.error)
            for t in run.tasks
            if t.result_state in FAILED_TASK_RESULTS or t.result_state == "UPSTREAM_FAILED"
        ),
    )
    delivery_ids = []
    for request in route(outcome, AlertRoutes(email=email, webhook=webhook)):
        delivery = alerts_repo.add_delivery(
            session,
            run_id=run.id,
            event_type=request.event_type,
            channel=request.channel,
            target=request.target,
            payload=request.payload,
        )
        if delivery is not None:
            delivery_ids.append(delivery.id)
    return delivery_ids

"""/api/v1/runs and manual runs."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import ReadAccess, SenderDep, SessionDep, TriggerAccess
from service.api.problems import Problem
from service.runs.control import request_cancel, request_repair
from service.runs.queue import CANCEL_RUN, DELIVER_ALERT, SUBMIT_RUN
from service.store.models import Run, Workflow
from service.store.repositories import alerts as alerts_repo
from service.store.repositories import runs as runs_repo
from service.store.repositories import workflows as workflows_repo
from service.triggers.ledger import announce, record_trigger
from service.workflows import check_run_request

router = APIRouter(prefix="/api/v1", tags=["runs"])


class ManualRun(BaseModel):
    parameters: dict[str, str] = Field(default_factory=dict)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _run_summary(run: Run, workflow_name: str | None = None) -> dict[str, Any]:
    return {
        "id": run.id,
        "workflow": workflow_name,
        "status": run.status,
        "attempt": run.attempt,
        "trigger_event_id": run.trigger_event_id,
        "parameters": run.parameters,
        "databricks_job_id": run.databricks_job_id,
        "databricks_run_id": run.databricks_run_id,
        "run_page_url": run.run_page_url,
        "life_cycle_state": run.life_cycle_state,
        "result_state": run.result_state,
        "state_message": run.state_message,
        "requested_at": _iso(run.requested_at),
        "submitted_at": _iso(run.submitted_at),
        "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at),
        "next_attempt_at": _iso(run.next_attempt_at),
        "retry_mode": run.retry_mode,
        "workspace": run.workspace,
        "cancel_reason": run.cancel_reason,
    }


def _encode_cursor(run: Run) -> str:
    return base64.urlsafe_b64encode(f"{run.requested_at.isoformat()}|{run.id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, run_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", 1)
        return datetime.fromisoformat(at), run_id
    except ValueError as exc:
        raise Problem(
            400,
            "Bad cursor",
            "use the next_cursor of a previous page",
            errors=[{"path": "query:$.cursor", "message": "not a cursor this API issued"}],
        ) from exc


@router.post("/workflows/{name}/runs", status_code=202)
def start_run(
    name: str,
    body: ManualRun,
    session: SessionDep,
    sender: SenderDep,
    _: TriggerAccess,
    idempotency_key: str | None = Header(default=None, max_length=150),
) -> JSONResponse:
    workflow = workflows_repo.get_workflow_by_name(session, name=name)
    if workflow is None:
        raise Problem(404, "Workflow not found", f"no workflow is named {name!r}")
    # Databricks' run-now limits, refused now rather than when the run is submitted.
    # (Idempotency-Key is Lockgate's own dedupe key, not the Databricks token.)
    problems = check_run_request(body.parameters, None)
    if problems:
        errors = [{"path": p.path, "message": p.message} for p in problems]
        detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
        raise Problem(422, "Invalid run request", detail, errors=errors)
    accepted = record_trigger(
        session,
        source="manual",
        source_name=workflow.name,
        dedupe_key=f"key:{idempotency_key}" if idempotency_key else f"once:{uuid.uuid4().hex}",
        workflow_id=workflow.id,
        payload={"parameters": body.parameters},
        parameters=body.parameters,
    )
    session.commit()
    announce(sender, accepted)
    return JSONResponse(
        {"event_id": accepted.event_id, "duplicate": not accepted.created}, status_code=202
    )


@router.get("/runs")
def list_runs(
    session: SessionDep,
    _: ReadAccess,
    workflow: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    limit = max(1, min(limit, 200))
    workflow_id = None
    if workflow is not None:
        found = workflows_repo.get_workflow_by_name(session, name=workflow)
        if found is None:
            return {"items": [], "next_cursor": None}
        workflow_id = found.id
    runs = runs_repo.list_runs(
        session,
        workflow_id=workflow_id,
        status=status,
        before=_decode_cursor(cursor) if cursor else None,
        limit=limit,
    )
    names = {
        w.id: w.name
        for w in session.query(Workflow).filter(Workflow.id.in_({r.workflow_id for r in runs}))
    }
    return {
        "items": [_run_summary(r, names.get(r.workflow_id)) for r in runs],
        "next_cursor": _encode_cursor(runs[-1]) if len(runs) == limit else None,
    }


@router.get("/runs/{run_id}")
def get_run(run_id: str, session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    run = runs_repo.get_run(session, run_id=run_id, with_tasks=True)
    if run is None:
        raise Problem(404, "Run not found", f"no run has id {run_id!r}")
    workflow = session.get(Workflow, run.workflow_id)
    return {
        **_run_summary(run, workflow.name if workflow else None),
        "tasks": [
            {
                "task_key": t.task_key,
                "databricks_run_id": t.databricks_run_id,
                "attempt_number": t.attempt_number,
                "life_cycle_state": t.life_cycle_state,
                "result_state": t.result_state,
                "state_message": t.state_message,
                "error": t.error,
                "started_at": _iso(t.started_at),
                "ended_at": _iso(t.ended_at),
                "duration_ms": t.duration_ms,
                "termination_code": t.termination_code,
            }
            for t in run.tasks
        ],
        "attempts": [
            {
                "attempt": a.attempt,
                "kind": a.kind,
                "databricks_run_id": a.databricks_run_id,
                "repair_id": a.repair_id,
                "started_at": _iso(a.started_at),
                "ended_at": _iso(a.ended_at),
                "result_state": a.result_state,
                "termination_code": a.termination_code,
                "decision": a.decision,
                "decision_reason": a.decision_reason,
            }
            for a in runs_repo.list_attempts(session, run_id=run.id)
        ],
        "alerts": [
            {
                "id": d.id,
                "event_type": d.event_type,
                "channel": d.channel,
                "target": d.target,
                "status": d.status,
                "attempts": d.attempts,
                "last_error": d.last_error,
            }
            for d in alerts_repo.list_deliveries(session, run_id=run.id)
        ],
    }


@router.post("/runs/{run_id}/cancel", status_code=202)
def cancel_run(
    run_id: str, session: SessionDep, sender: SenderDep, _: TriggerAccess
) -> dict[str, Any]:
    """Cancels a run. Not yet at Databricks: cancelled at once (200-like body, status
    ``canceled``); at Databricks: the cancel is recorded and sent (``requested``); the run
    ends when Databricks says so."""
    outcome = request_cancel(session, run_id=run_id)
    if outcome.status == "missing":
        raise Problem(404, "Run not found", f"no run has id {run_id!r}")
    if outcome.status == "already-ended":
        raise Problem(409, "Run already ended", "an ended run cannot be cancelled")
    session.commit()
    if outcome.status == "requested":
        sender.send(CANCEL_RUN, run_id)
    for delivery_id in outcome.alert_delivery_ids:
        sender.send(DELIVER_ALERT, delivery_id)
    return {"id": run_id, "cancel": outcome.status}


class RepairBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The tasks to run again (with their dependents); none named: the failed ones.
    tasks: list[Annotated[str, Field(min_length=1)]] | None = None


@router.post("/runs/{run_id}/repair", status_code=202)
def repair_run(
    run_id: str,
    session: SessionDep,
    sender: SenderDep,
    _: TriggerAccess,
    body: RepairBody | None = None,
) -> dict[str, Any]:
    """Re-runs a failed or cancelled run's failed tasks (or the tasks named) and their
    dependents, in the same Databricks run, as the run's next attempt."""
    request = request_repair(session, run_id=run_id, tasks=body.tasks if body else None)
    if request.reason == "missing":
        raise Problem(404, "Run not found", f"no run has id {run_id!r}")
    if request.unknown_tasks and body and body.tasks:
        raise Problem(
            422,
            "Unknown task",
            request.reason,
            errors=[
                {"path": f"$.tasks[{i}]", "message": f"the run has no task {task!r}"}
                for i, task in enumerate(body.tasks)
                if task in request.unknown_tasks
            ],
        )
    if not request.accepted:
        raise Problem(409, "Run cannot be repaired", request.reason or "")
    session.commit()
    sender.send(SUBMIT_RUN, run_id)
    run = runs_repo.get_run(session, run_id=run_id)
    return {
        "id": run_id,
        "status": run.status if run else None,
        "attempt": run.attempt if run else None,
    }

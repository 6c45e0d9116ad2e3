"""/api/v1/schedules, /api/v1/file-watches, /api/v1/expectations: the time and file
triggers Lockgate fires itself, and the absences it watches for.

Schedules and watches come from workflow definitions; what is set here is an operator's
override kept beside them (pause/unpause, misfire policy, name filters).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from service.api.deps import AdminAccess, ReadAccess, SessionDep
from service.api.problems import Problem
from service.store.models import utcnow
from service.store.models.triggers import Expectation, FileWatch, Schedule
from service.store.repositories import file_watches as watches_repo
from service.store.repositories import schedules as schedules_repo
from service.store.repositories import workflows as workflows_repo
from service.triggers import cron
from service.triggers.blob_locations import LocationInvalid, parse_location
from service.triggers.expectations import first_deadline
from service.triggers.schedule_times import MisfirePolicy
from service.triggers.sync import DefinitionSync, first_fire

router = APIRouter(prefix="/api/v1", tags=["triggers"])


def _schedule(row: Schedule) -> dict[str, Any]:
    return {
        "workflow": row.workflow_name,
        "kind": row.kind,
        "expression": row.expression,
        "timezone": row.timezone,
        "interval": row.interval,
        "unit": row.unit,
        "paused": row.paused,
        "paused_by_operator": row.paused_override,
        "misfire_policy": row.misfire_policy,
        "misfire_limit": row.misfire_limit,
        "next_fire_at": row.next_fire_at.isoformat() if row.next_fire_at else None,
        "last_fire_at": row.last_fire_at.isoformat() if row.last_fire_at else None,
    }


def _schedule_or_404(session: SessionDep, workflow: str) -> Schedule:
    found = workflows_repo.get_workflow_by_name(session, name=workflow)
    if found is None:
        raise Problem(404, "Workflow not found", f"no workflow is named {workflow!r}")
    DefinitionSync(schedules=True, file_watches=False).sync_one(
        session, workflow=found, now=utcnow()
    )
    row = schedules_repo.get_schedule(session, workflow_name=workflow)
    if row is None:
        raise Problem(404, "No schedule", f"workflow {workflow!r} has no schedule")
    return row


@router.get("/schedules")
def list_schedules(session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    return {"items": [_schedule(s) for s in schedules_repo.list_schedules(session)]}


class ScheduleChange(BaseModel):
    paused: bool | None = None
    misfire_policy: MisfirePolicy | None = None
    misfire_limit: int | None = Field(default=None, ge=1, le=1000)


@router.patch("/schedules/{workflow}")
def change_schedule(
    workflow: str, body: ScheduleChange, session: SessionDep, _: AdminAccess
) -> dict[str, Any]:
    row = _schedule_or_404(session, workflow)
    now = utcnow()
    if "paused" in body.model_fields_set:
        was_paused = row.paused
        row.paused_override = body.paused
        row.paused = body.paused if body.paused is not None else row.definition_paused
        if was_paused and not row.paused:
            # Unpausing starts from now: the paused time is not a misfire to catch up.
            row.next_fire_at = first_fire(row, now)
    if "misfire_policy" in body.model_fields_set:
        row.misfire_policy = body.misfire_policy
    if "misfire_limit" in body.model_fields_set:
        row.misfire_limit = body.misfire_limit
    row.updated_at = now
    session.commit()
    return _schedule(row)


def _watch(row: FileWatch) -> dict[str, Any]:
    return {
        "workflow": row.workflow_name,
        "location": row.location,
        "suffix": row.suffix,
        "glob": row.glob,
        "trigger_on_overwrite": row.trigger_on_overwrite,
        "min_time_between_triggers_seconds": row.min_time_between_triggers_seconds,
        "wait_after_last_change_seconds": row.wait_after_last_change_seconds,
        "paused": row.paused,
        "checkpoint": row.checkpoint_name,
        "pending_files": len(row.pending_files),
        "last_triggered_at": row.last_triggered_at.isoformat() if row.last_triggered_at else None,
    }


@router.get("/file-watches")
def list_watches(session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    return {"items": [_watch(w) for w in watches_repo.list_watches(session)]}


class WatchChange(BaseModel):
    suffix: str | None = Field(default=None, max_length=100)
    glob: str | None = Field(default=None, max_length=200)
    trigger_on_overwrite: bool | None = None


@router.patch("/file-watches/{workflow}")
def change_watch(
    workflow: str, body: WatchChange, session: SessionDep, _: AdminAccess
) -> dict[str, Any]:
    found = workflows_repo.get_workflow_by_name(session, name=workflow)
    if found is None:
        raise Problem(404, "Workflow not found", f"no workflow is named {workflow!r}")
    DefinitionSync(schedules=False, file_watches=True).sync_one(
        session, workflow=found, now=utcnow()
    )
    row = watches_repo.get_watch(session, workflow_name=workflow)
    if row is None:
        raise Problem(404, "No file trigger", f"workflow {workflow!r} has no file_arrival trigger")
    for field in ("suffix", "glob"):
        if field in body.model_fields_set:
            setattr(row, field, getattr(body, field) or None)
    if body.trigger_on_overwrite is not None:
        row.trigger_on_overwrite = body.trigger_on_overwrite
    session.commit()
    return _watch(row)


class ExpectationCreate(BaseModel):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
    deadline_cron: str = Field(description='e.g. "0 0 6 ? * MON-FRI" (Quartz) or "0 6 * * 1-5"')
    timezone: str = "UTC"
    file_under: str | None = Field(default=None, description="a storage location URL")
    workflow_succeeded: str | None = Field(default=None, description="a workflow name")
    alert_workflow: str | None = Field(
        default=None, description="whose alert routes hear a miss (default: workflow_succeeded)"
    )


def _expectation(row: Expectation) -> dict[str, Any]:
    return {
        "name": row.name,
        "kind": row.kind,
        "location": row.location,
        "workflow": row.workflow_name,
        "deadline_cron": row.deadline_cron,
        "timezone": row.timezone,
        "next_deadline_at": row.next_deadline_at.isoformat(),
        "last_deadline_at": row.last_deadline_at.isoformat() if row.last_deadline_at else None,
        "last_outcome": row.last_outcome,
        "last_detail": row.last_detail,
    }


@router.post("/expectations", status_code=201)
def create_expectation(
    body: ExpectationCreate, session: SessionDep, _: AdminAccess
) -> dict[str, Any]:
    if (body.file_under is None) == (body.workflow_succeeded is None):
        raise Problem(
            422,
            "Expect one thing",
            "give either file_under or workflow_succeeded",
            errors=[{"path": "$.file_under", "message": "or workflow_succeeded, not both"}],
        )
    try:
        deadline = first_deadline(body.deadline_cron, body.timezone, utcnow())
    except cron.CronError as exc:
        raise Problem(
            422, "Bad deadline", str(exc), errors=[{"path": "$.deadline_cron", "message": str(exc)}]
        ) from exc
    if body.file_under is not None:
        try:
            parse_location(body.file_under)
        except LocationInvalid as exc:
            raise Problem(
                422,
                "Bad location",
                str(exc),
                errors=[{"path": "$.file_under", "message": str(exc)}],
            ) from exc
    workflow_name = body.workflow_succeeded or body.alert_workflow
    if workflow_name and workflows_repo.get_workflow_by_name(session, name=workflow_name) is None:
        path = "$.workflow_succeeded" if body.workflow_succeeded else "$.alert_workflow"
        raise Problem(
            422,
            "Unknown workflow",
            f"no workflow is named {workflow_name!r}",
            errors=[{"path": path, "message": "names no existing workflow"}],
        )
    if session.query(Expectation).filter(Expectation.name == body.name).first() is not None:
        raise Problem(409, "Expectation exists", f"an expectation named {body.name!r} exists")
    row = Expectation(
        name=body.name,
        kind="file" if body.file_under else "run",
        location=body.file_under,
        workflow_name=workflow_name,
        deadline_cron=body.deadline_cron,
        timezone=body.timezone,
        next_deadline_at=deadline,
        last_detail={},
    )
    session.add(row)
    session.commit()
    return _expectation(row)


@router.get("/expectations")
def list_expectations(session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    rows = session.query(Expectation).order_by(Expectation.name).all()
    return {"items": [_expectation(r) for r in rows]}


@router.delete("/expectations/{name}", status_code=204)
def delete_expectation(name: str, session: SessionDep, _: AdminAccess) -> None:
    row = session.query(Expectation).filter(Expectation.name == name).first()
    if row is None:
        raise Problem(404, "Expectation not found", f"no expectation is named {name!r}")
    session.delete(row)
    session.commit()

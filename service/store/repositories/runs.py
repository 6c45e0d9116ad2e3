from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, selectinload

from service.store.models import Run, RunStatus, TaskRun, utcnow


def create_run(
    session: Session, *, workflow_id: str, trigger_event_id: str, parameters: dict[str, Any]
) -> Run:
    run = Run(workflow_id=workflow_id, trigger_event_id=trigger_event_id, parameters=parameters)
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, *, run_id: str, with_tasks: bool = False) -> Run | None:
    query = select(Run).where(Run.id == run_id)
    if with_tasks:
        query = query.options(selectinload(Run.tasks))
    return session.scalars(query).one_or_none()


def get_run_for_event(session: Session, *, trigger_event_id: str) -> Run | None:
    return session.scalars(
        select(Run).where(Run.trigger_event_id == trigger_event_id)
    ).one_or_none()


def list_runs(
    session: Session,
    *,
    workflow_id: str | None = None,
    status: str | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[Run]:
    """Newest first, keyset-paginated on (requested_at, id): the id breaks ties so a page
    boundary never drops or repeats a run that shares a timestamp."""
    query = select(Run).order_by(Run.requested_at.desc(), Run.id.desc()).limit(limit)
    if workflow_id is not None:
        query = query.where(Run.workflow_id == workflow_id)
    if status is not None:
        query = query.where(Run.status == status)
    if before is not None:
        at, run_id = before
        query = query.where(
            or_(Run.requested_at < at, (Run.requested_at == at) & (Run.id < run_id))
        )
    return list(session.scalars(query))


def claim_for_submission(session: Session, *, run_id: str) -> bool:
    """Moves requested → submitting. A run already ``submitting`` is claimed again: the
    worker that held it may have died mid-call, and resubmitting is safe because the
    idempotency token makes Databricks return the same run."""
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(RunStatus.UNSUBMITTED))
        .values(status=RunStatus.SUBMITTING, updated_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_submission(
    session: Session, *, run_id: str, databricks_job_id: int, databricks_run_id: int
) -> bool:
    now = utcnow()
    result = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(RunStatus.UNSUBMITTED))
        .values(
            status=RunStatus.PENDING,
            databricks_job_id=databricks_job_id,
            databricks_run_id=databricks_run_id,
            submitted_at=now,
            updated_at=now,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_submission_error(session: Session, *, run_id: str, message: str) -> None:
    now = utcnow()
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status.in_(RunStatus.UNSUBMITTED))
        .values(status=RunStatus.ERROR, state_message=message, ended_at=now, updated_at=now)
    )


def active_runs(session: Session) -> list[Run]:
    return list(
        session.scalars(
            select(Run)
            .where(Run.status.in_(RunStatus.ACTIVE), Run.databricks_run_id.is_not(None))
            .options(selectinload(Run.tasks))
        )
    )


def stuck_unsubmitted_run_ids(
    session: Session, *, older_than: datetime, limit: int = 500
) -> list[str]:
    return list(
        session.scalars(
            select(Run.id)
            .where(Run.status.in_(RunStatus.UNSUBMITTED), Run.updated_at < older_than)
            .order_by(Run.updated_at, Run.id)
            .limit(limit)
        )
    )


def upsert_task_run(
    session: Session, *, run: Run, task_key: str, values: dict[str, Any]
) -> TaskRun:
    for task in run.tasks:
        if task.task_key == task_key:
            for field, value in values.items():
                setattr(task, field, value)
            return task
    task = TaskRun(task_key=task_key, **values)
    run.tasks.append(task)
    return task


def runs_by_ids(session: Session, *, run_ids: Sequence[str]) -> list[Run]:
    return list(session.scalars(select(Run).where(Run.id.in_(run_ids))))

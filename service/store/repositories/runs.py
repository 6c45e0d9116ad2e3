from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, selectinload

from service.store.models import Run, RunStatus, TaskRun, TriggerEvent, Workflow, utcnow
from service.store.models.engine import RunAttempt

# Runs that hold one of their workflow's max_concurrent_runs slots: everything between
# "let through" and "ended for good" (a run waiting to retry keeps its slot).
SLOT_HOLDING = (
    RunStatus.REQUESTED,
    RunStatus.SUBMITTING,
    RunStatus.PENDING,
    RunStatus.RUNNING,
    RunStatus.RETRYING,
)


def create_run(
    session: Session,
    *,
    workflow_id: str,
    trigger_event_id: str,
    parameters: dict[str, Any],
    status: str = RunStatus.REQUESTED,
) -> Run:
    run = Run(
        workflow_id=workflow_id,
        trigger_event_id=trigger_event_id,
        parameters=parameters,
        status=status,
    )
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


def claim_for_submission(session: Session, *, run_id: str, now: datetime | None = None) -> bool:
    """Moves requested (or a retrying run that is due) → submitting. A run already
    ``submitting`` is claimed again: the worker that held it may have died mid-call, and
    resubmitting is safe because the idempotency token makes Databricks return the same
    run (a repair is guarded by ``latest_repair_id`` instead). A run parked until
    ``next_attempt_at`` is not claimed before then."""
    now = now or utcnow()
    due = or_(Run.next_attempt_at.is_(None), Run.next_attempt_at <= now)
    result = session.execute(
        update(Run)
        .where(
            Run.id == run_id,
            Run.status.in_((*RunStatus.UNSUBMITTED, RunStatus.RETRYING)),
            due,
        )
        .values(status=RunStatus.SUBMITTING, next_attempt_at=None, updated_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_submission(
    session: Session,
    *,
    run_id: str,
    databricks_job_id: int | None,
    databricks_run_id: int,
    deadline_at: datetime | None = None,
    repair_id: int | None = None,
) -> bool:
    now = utcnow()
    values: dict[str, Any] = {
        "status": RunStatus.PENDING,
        "databricks_job_id": databricks_job_id,
        "databricks_run_id": databricks_run_id,
        "submitted_at": now,
        "updated_at": now,
        "deadline_at": deadline_at,
        "retry_mode": None,
        "next_attempt_at": None,
        "life_cycle_state": None,
        "result_state": None,
        "ended_at": None,
    }
    if repair_id is not None:
        values["latest_repair_id"] = repair_id
        values["repair_tasks"] = None
    result = session.execute(
        update(Run).where(Run.id == run_id, Run.status.in_(RunStatus.UNSUBMITTED)).values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def park_submission(session: Session, *, run_id: str, until: datetime, reason: str) -> None:
    """Puts a run that Databricks cannot take now (capacity, budget) back to wait."""
    session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.SUBMITTING)
        .values(
            status=RunStatus.REQUESTED,
            next_attempt_at=until,
            state_message=reason,
            updated_at=utcnow(),
        )
    )


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


def watched_runs(
    session: Session, *, workspace: str | None = None, databricks_run_id: int | None = None
) -> list[tuple[str, int, datetime | None, datetime | None, str]]:
    """(run id, Databricks run id, submitted_at, started_at, workspace) of every active
    run (or the one named): just the columns a sweep needs, so 2,000 watched runs cost
    one light query."""
    query = select(
        Run.id, Run.databricks_run_id, Run.submitted_at, Run.started_at, Run.workspace
    ).where(Run.status.in_(RunStatus.ACTIVE), Run.databricks_run_id.is_not(None))
    if workspace is not None:
        query = query.where(Run.workspace == workspace)
    if databricks_run_id is not None:
        query = query.where(Run.databricks_run_id == databricks_run_id)
    rows = session.execute(query)
    return [(r[0], int(r[1] or 0), r[2], r[3], r[4]) for r in rows]


def runs_past_deadline(session: Session, *, now: datetime) -> list[Run]:
    return list(
        session.scalars(
            select(Run).where(
                Run.status.in_(RunStatus.ACTIVE),
                Run.deadline_at.is_not(None),
                Run.deadline_at <= now,
                Run.cancel_requested_at.is_(None),
                Run.databricks_run_id.is_not(None),
            )
        )
    )


def runs_with_pending_cancel(session: Session, *, older_than: datetime) -> list[Run]:
    """Cancels asked for a while ago whose run is still active: send them again."""
    return list(
        session.scalars(
            select(Run).where(
                Run.status.in_(RunStatus.ACTIVE),
                Run.cancel_requested_at.is_not(None),
                Run.cancel_requested_at < older_than,
                Run.databricks_run_id.is_not(None),
            )
        )
    )


def stuck_unsubmitted_run_ids(
    session: Session, *, older_than: datetime, now: datetime | None = None, limit: int = 500
) -> list[str]:
    """Runs to (re)send for submission: unsubmitted ones idle since ``older_than`` (and not
    parked into the future), and retrying ones whose next attempt is due."""
    now = now or utcnow()
    unsubmitted = and_(
        Run.status.in_(RunStatus.UNSUBMITTED),
        Run.updated_at < older_than,
        or_(Run.next_attempt_at.is_(None), Run.next_attempt_at <= now),
    )
    due_retry = and_(Run.status == RunStatus.RETRYING, Run.next_attempt_at <= now)
    return list(
        session.scalars(
            select(Run.id)
            .where(or_(unsubmitted, due_retry))
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


def runs_by_ids(session: Session, *, run_ids: Sequence[str], with_tasks: bool = False) -> list[Run]:
    found: list[Run] = []
    # Chunked: an IN list of thousands of ids is past what some drivers take in one go.
    for start in range(0, len(run_ids), 500):
        query = select(Run).where(Run.id.in_(run_ids[start : start + 500]))
        if with_tasks:
            query = query.options(selectinload(Run.tasks))
        found.extend(session.scalars(query))
    return found


# -- concurrency ---------------------------------------------------------------------------


def lock_workflow(session: Session, *, workflow_id: str) -> Workflow | None:
    """Serialises slot accounting per workflow: FOR UPDATE on PostgreSQL; SQLite already
    serialises writers for the whole transaction."""
    return session.scalars(
        select(Workflow).where(Workflow.id == workflow_id).with_for_update()
    ).one_or_none()


def count_runs(session: Session, *, workflow_id: str, statuses: Sequence[str]) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Run)
            .where(Run.workflow_id == workflow_id, Run.status.in_(statuses))
        )
        or 0
    )


def oldest_queued_runs(session: Session, *, workflow_id: str, limit: int) -> list[Run]:
    """FIFO: first requested, first let through; the id breaks ties."""
    return list(
        session.scalars(
            select(Run)
            .where(Run.workflow_id == workflow_id, Run.status == RunStatus.QUEUED)
            .order_by(Run.requested_at, Run.id)
            .limit(limit)
        )
    )


def queued_workflow_ids(session: Session) -> list[str]:
    return list(
        session.scalars(select(Run.workflow_id).where(Run.status == RunStatus.QUEUED).distinct())
    )


def set_status(session: Session, *, run_id: str, expected: Sequence[str], **values: Any) -> bool:
    """Conditional update: only a run still in one of ``expected`` changes."""
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        update(Run).where(Run.id == run_id, Run.status.in_(expected)).values(**values)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def record_verdict(session: Session, *, event_id: str, verdict: str, reason: str | None) -> None:
    session.execute(
        update(TriggerEvent)
        .where(TriggerEvent.id == event_id)
        .values(verdict=verdict, verdict_reason=reason)
    )


def forget_job_binding(session: Session, *, workflow_id: str, job_id: int) -> None:
    """The workflow's job was deleted in the workspace: unbind it so it is made again
    (conditional, so a binding another worker already replaced is left alone)."""
    session.execute(
        update(Workflow)
        .where(Workflow.id == workflow_id, Workflow.databricks_job_id == job_id)
        .values(databricks_job_id=None, synced_version=None)
    )


def clear_task_runs(session: Session, *, run_id: str) -> None:
    session.execute(delete(TaskRun).where(TaskRun.run_id == run_id))


# -- attempts ------------------------------------------------------------------------------


def record_attempt_started(
    session: Session,
    *,
    run_id: str,
    attempt: int,
    kind: str,
    databricks_run_id: int,
    repair_id: int | None = None,
) -> RunAttempt:
    """One row per attempt; recording the same attempt twice (a redelivered task) keeps
    the first row."""
    existing = session.scalars(
        select(RunAttempt).where(RunAttempt.run_id == run_id, RunAttempt.attempt == attempt)
    ).one_or_none()
    if existing is not None:
        return existing
    row = RunAttempt(
        run_id=run_id,
        attempt=attempt,
        kind=kind,
        databricks_run_id=databricks_run_id,
        repair_id=repair_id,
    )
    session.add(row)
    session.flush()
    return row


def record_attempt_ended(
    session: Session, *, run: Run, termination_code: str | None, decision: str, reason: str
) -> None:
    row = session.scalars(
        select(RunAttempt).where(RunAttempt.run_id == run.id, RunAttempt.attempt == run.attempt)
    ).one_or_none()
    if row is None:
        return
    row.ended_at = run.ended_at or utcnow()
    row.life_cycle_state = run.life_cycle_state
    row.result_state = run.result_state
    row.termination_code = termination_code
    row.state_message = run.state_message
    row.decision = decision
    row.decision_reason = reason


def list_attempts(session: Session, *, run_id: str) -> list[RunAttempt]:
    return list(
        session.scalars(
            select(RunAttempt).where(RunAttempt.run_id == run_id).order_by(RunAttempt.attempt)
        )
    )


def workflow_sources(session: Session, *, workflow_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The stored definitions of several workflows, by id, in one query."""
    ids = set(workflow_ids)
    if not ids:
        return {}
    rows = session.execute(select(Workflow.id, Workflow.source).where(Workflow.id.in_(ids)))
    return {workflow_id: source for workflow_id, source in rows}

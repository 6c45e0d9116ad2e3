"""The workspace watcher's rows: its checkpoint per workspace, the runs it has seen
end (as ledger events that name no workflow), and which Lockgate runs they belong to."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.store.models import EventStatus, Run, TriggerEvent, utcnow
from service.store.models.engine import RunAttempt
from service.store.models.workspace import WorkspaceWatch

OBSERVED_SOURCE = "databricks"


def get_watch(session: Session, workspace: str) -> WorkspaceWatch | None:
    return session.get(WorkspaceWatch, workspace)


def record_observed_event(
    session: Session, *, workspace: str, dedupe_key: str, payload: dict[str, Any]
) -> tuple[TriggerEvent, bool]:
    """One ledger event per ending (run id + repair id) per workspace; a second recording
    of the same ending returns the first (the unique index decides a race). Status
    ``observed``: no dispatcher or sweeper picks it up; what it starts is decided by the
    watcher's handlers in the same transaction."""
    existing = _observed(session, workspace, dedupe_key)
    if existing is not None:
        return existing, False
    event = TriggerEvent(
        source=OBSERVED_SOURCE,
        source_name=workspace,
        dedupe_key=dedupe_key,
        workflow_id=None,
        payload=payload,
        parameters={},
        status=EventStatus.OBSERVED,
        verdict="observed",
        received_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        winner = _observed(session, workspace, dedupe_key)
        if winner is None:
            raise
        return winner, False
    return event, True


def _observed(session: Session, workspace: str, dedupe_key: str) -> TriggerEvent | None:
    return session.scalars(
        select(TriggerEvent).where(
            TriggerEvent.source == OBSERVED_SOURCE,
            TriggerEvent.source_name == workspace,
            TriggerEvent.dedupe_key == dedupe_key,
            TriggerEvent.workflow_id.is_(None),
        )
    ).first()


def lockgate_runs_of(session: Session, databricks_run_ids: Iterable[int]) -> dict[int, str]:
    """Databricks run id -> the Lockgate run it is an attempt of (current or earlier)."""
    ids = sorted(set(databricks_run_ids))
    if not ids:
        return {}
    found: dict[int, str] = {}
    for databricks_run_id, run_id in session.execute(
        select(RunAttempt.databricks_run_id, RunAttempt.run_id).where(
            RunAttempt.databricks_run_id.in_(ids)
        )
    ):
        if databricks_run_id is not None:
            found[int(databricks_run_id)] = run_id
    for databricks_run_id, run_id in session.execute(
        select(Run.databricks_run_id, Run.id).where(Run.databricks_run_id.in_(ids))
    ):
        if databricks_run_id is not None:
            found[int(databricks_run_id)] = run_id
    return found

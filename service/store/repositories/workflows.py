from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.store.models import Hook, Workflow, utcnow


def get_workflow_by_name(session: Session, *, name: str) -> Workflow | None:
    return session.scalars(select(Workflow).where(Workflow.name == name)).one_or_none()


def get_workflow(session: Session, *, workflow_id: str) -> Workflow | None:
    return session.get(Workflow, workflow_id)


def list_workflows(
    session: Session, *, after: str | None = None, limit: int = 100
) -> list[Workflow]:
    query = select(Workflow).order_by(Workflow.name).limit(limit)
    if after is not None:
        query = query.where(Workflow.name > after)
    return list(session.scalars(query))


def create_workflow(session: Session, *, name: str, source: dict[str, Any]) -> Workflow:
    workflow = Workflow(name=name, source=source)
    session.add(workflow)
    session.flush()
    return workflow


def replace_workflow_source(
    session: Session, *, workflow: Workflow, source: dict[str, Any]
) -> bool:
    """Returns False when nothing changed, so an identical PUT does not force a job reset."""
    if workflow.source == source:
        return False
    workflow.source = source
    workflow.version += 1
    workflow.updated_at = utcnow()
    session.flush()
    return True


def claim_job_binding(session: Session, *, workflow_id: str, job_id: int, version: int) -> bool:
    """Records the Databricks job made for a workflow, only if no other worker recorded one
    first. A False result means the caller's job is a duplicate it should delete."""
    result = session.execute(
        update(Workflow)
        .where(Workflow.id == workflow_id, Workflow.databricks_job_id.is_(None))
        .values(databricks_job_id=job_id, synced_version=version)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def mark_job_synced(session: Session, *, workflow_id: str, version: int) -> None:
    session.execute(
        update(Workflow).where(Workflow.id == workflow_id).values(synced_version=version)
    )


def get_hook(session: Session, *, name: str) -> Hook | None:
    return session.scalars(select(Hook).where(Hook.name == name)).one_or_none()


def list_hooks(session: Session) -> list[Hook]:
    return list(session.scalars(select(Hook).order_by(Hook.name)))


def create_hook(
    session: Session, *, name: str, workflow_name: str, secret: str, parameters: dict[str, str]
) -> Hook:
    hook = Hook(name=name, workflow_name=workflow_name, secret=secret, parameters=parameters)
    session.add(hook)
    session.flush()
    return hook

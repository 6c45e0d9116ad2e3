from __future__ import annotations

from datetime import datetime, timedelta
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
    session: Session,
    *,
    name: str,
    workflow_name: str,
    secret: str,
    parameters: dict[str, str],
    workflow_names: list[str] | None = None,
    verification: str = "lockgate",
    filters: list[dict[str, Any]] | None = None,
    delivery_id_header: str | None = None,
    rate_limit_per_minute: int | None = None,
    max_body_bytes: int | None = None,
) -> Hook:
    hook = Hook(
        name=name,
        workflow_name=workflow_name,
        workflow_names=workflow_names or [workflow_name],
        secret=secret,
        previous_secrets=[],
        verification=verification,
        parameters=parameters,
        filters=filters or [],
        delivery_id_header=delivery_id_header,
        rate_limit_per_minute=rate_limit_per_minute,
        max_body_bytes=max_body_bytes,
    )
    session.add(hook)
    session.flush()
    return hook


def active_hook_secrets(hook: Hook, *, now: datetime) -> list[str]:
    """The newest secret first, then older ones still inside their rotation grace."""
    older = [
        entry["secret"]
        for entry in hook.previous_secrets
        if datetime.fromisoformat(entry["expires_at"]) > now
    ]
    return [hook.secret, *older]


def rotate_hook_secret(
    session: Session, *, hook: Hook, new_secret: str, grace: timedelta, now: datetime
) -> None:
    """The new secret signs from now on; the current one (and older ones still in
    their grace) keep verifying until ``now + grace``, so senders can switch over."""
    kept = [
        entry
        for entry in hook.previous_secrets
        if datetime.fromisoformat(entry["expires_at"]) > now
    ]
    if grace > timedelta(0):
        kept.append({"secret": hook.secret, "expires_at": (now + grace).isoformat()})
    hook.previous_secrets = kept
    hook.secret = new_secret
    hook.secret_rotated_at = now
    session.flush()


def set_hook_disabled(session: Session, *, hook: Hook, disabled: bool, now: datetime) -> None:
    hook.disabled_at = now if disabled else None
    session.flush()

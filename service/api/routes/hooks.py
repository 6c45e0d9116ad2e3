"""Managing webhook endpoints (/api/v1/hooks). Receiving them (/hooks/{name}) is
``service.api.routes.hook_ingress``."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator, model_validator

from service.api.deps import AdminAccess, ReadAccess, SessionDep, SettingsDep
from service.api.problems import Problem
from service.store.models import Hook, utcnow
from service.store.repositories import workflows as workflows_repo
from service.triggers import hook_payload, webhook

admin = APIRouter(prefix="/api/v1/hooks", tags=["hooks"])

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"


class HookOptions(BaseModel):
    parameters: dict[str, str] | None = Field(
        default=None,
        description='run parameter → source: "$.body.path", "header:Name" or "query:name"',
    )
    filters: list[dict[str, Any]] | None = Field(
        default=None,
        description='start runs only when every rule holds: {"path": "$.action", "equals": "x"}'
        ' (or "one_of": [...], or "exists": true)',
    )
    delivery_id_header: str | None = Field(default=None, max_length=100)
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=1_000_000)
    max_body_bytes: int | None = Field(default=None, ge=1, le=100 * 1024 * 1024)

    @field_validator("parameters")
    @classmethod
    def _sources_are_valid(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for name, source in (value or {}).items():
            if not hook_payload.is_valid_source(source):
                raise ValueError(
                    f"parameter {name!r}: {source!r} is not $.field.sub[0], header:Name "
                    "or query:name"
                )
        return value

    @field_validator("filters")
    @classmethod
    def _filters_are_valid(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        problems = hook_payload.filter_problems(value or [])
        if problems:
            raise ValueError("; ".join(f"{path}: {message}" for path, message in problems))
        return value


class HookCreate(HookOptions):
    name: str = Field(pattern=NAME_PATTERN)
    workflow: str | None = None
    workflows: list[str] | None = Field(default=None, min_length=1, max_length=20)
    verification: webhook.Verification = "lockgate"
    secret: str | None = Field(default=None, min_length=16, max_length=200)

    @model_validator(mode="after")
    def _one_target_form(self) -> HookCreate:
        if (self.workflow is None) == (self.workflows is None):
            raise ValueError("name the target as workflow (one) or workflows (a list)")
        return self

    @property
    def targets(self) -> list[str]:
        return list(dict.fromkeys(self.workflows or [self.workflow or ""]))


class HookUpdate(HookOptions):
    workflows: list[str] | None = Field(default=None, min_length=1, max_length=20)


class SecretRotation(BaseModel):
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    grace_seconds: int | None = Field(
        default=None, ge=0, le=30 * 86_400, description="how long the old secret still verifies"
    )


def _public(hook: Hook) -> dict[str, Any]:
    now = utcnow()
    return {
        "name": hook.name,
        "workflow": hook.workflow_name,
        "workflows": hook.targets,
        "verification": hook.verification,
        "parameters": hook.parameters,
        "filters": hook.filters,
        "delivery_id_header": hook.delivery_id_header,
        "rate_limit_per_minute": hook.rate_limit_per_minute,
        "max_body_bytes": hook.max_body_bytes,
        "active_secrets": len(workflows_repo.active_hook_secrets(hook, now=now)),
        "disabled": hook.disabled_at is not None,
        "url": f"/hooks/{hook.name}",
        "created_at": hook.created_at.isoformat(),
    }


def _unknown_workflows(session: SessionDep, names: list[str], field: str) -> None:
    errors = [
        {
            "path": f"$.{field}" if field == "workflow" else f"$.{field}[{i}]",
            "message": "names no existing workflow",
        }
        for i, name in enumerate(names)
        if workflows_repo.get_workflow_by_name(session, name=name) is None
    ]
    if errors:
        raise Problem(422, "Unknown workflow", "a target names no existing workflow", errors=errors)


def _hook_or_404(session: SessionDep, name: str) -> Hook:
    hook = workflows_repo.get_hook(session, name=name)
    if hook is None:
        raise Problem(404, "Hook not found", f"no hook is named {name!r}")
    return hook


@admin.post("", status_code=201)
def create_hook(body: HookCreate, session: SessionDep, _: AdminAccess) -> dict[str, Any]:
    _unknown_workflows(session, body.targets, "workflows" if body.workflows else "workflow")
    if workflows_repo.get_hook(session, name=body.name) is not None:
        raise Problem(409, "Hook exists", f"a hook named {body.name!r} exists")
    secret = body.secret or secrets.token_hex(32)
    hook = workflows_repo.create_hook(
        session,
        name=body.name,
        workflow_name=body.targets[0],
        workflow_names=body.targets,
        secret=secret,
        parameters=body.parameters or {},
        verification=body.verification,
        filters=body.filters,
        delivery_id_header=body.delivery_id_header,
        rate_limit_per_minute=body.rate_limit_per_minute,
        max_body_bytes=body.max_body_bytes,
    )
    session.commit()
    # The only time the secret is returned.
    return {**_public(hook), "secret": secret}


@admin.get("")
def list_hooks(session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    return {"items": [_public(h) for h in workflows_repo.list_hooks(session)]}


@admin.get("/{name}")
def get_hook(name: str, session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    return _public(_hook_or_404(session, name))


@admin.patch("/{name}")
def update_hook(name: str, body: HookUpdate, session: SessionDep, _: AdminAccess) -> dict[str, Any]:
    hook = _hook_or_404(session, name)
    given = body.model_fields_set
    if body.workflows is not None:
        _unknown_workflows(session, body.workflows, "workflows")
        hook.workflow_names = list(dict.fromkeys(body.workflows))
        hook.workflow_name = hook.workflow_names[0]
    for field in ("parameters", "filters"):
        if field in given and getattr(body, field) is not None:
            setattr(hook, field, getattr(body, field))
    for field in ("delivery_id_header", "rate_limit_per_minute", "max_body_bytes"):
        if field in given:
            setattr(hook, field, getattr(body, field))
    session.commit()
    return _public(hook)


@admin.post("/{name}/rotate-secret")
def rotate_secret(
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminAccess,
    body: SecretRotation | None = None,
) -> dict[str, Any]:
    hook = _hook_or_404(session, name)
    body = body or SecretRotation()
    grace = body.grace_seconds
    if grace is None:
        grace = settings.webhook_secret_grace_seconds
    secret = body.secret or secrets.token_hex(32)
    now = utcnow()
    workflows_repo.rotate_hook_secret(
        session, hook=hook, new_secret=secret, grace=timedelta(seconds=grace), now=now
    )
    session.commit()
    return {
        **_public(hook),
        "secret": secret,
        "previous_secret_valid_until": (now + timedelta(seconds=grace)).isoformat(),
    }


@admin.post("/{name}/disable")
def disable_hook(name: str, session: SessionDep, _: AdminAccess) -> dict[str, Any]:
    hook = _hook_or_404(session, name)
    workflows_repo.set_hook_disabled(session, hook=hook, disabled=True, now=utcnow())
    session.commit()
    return _public(hook)


@admin.post("/{name}/enable")
def enable_hook(name: str, session: SessionDep, _: AdminAccess) -> dict[str, Any]:
    hook = _hook_or_404(session, name)
    workflows_repo.set_hook_disabled(session, hook=hook, disabled=False, now=utcnow())
    session.commit()
    return _public(hook)


@admin.delete("/{name}", status_code=204)
def delete_hook(name: str, session: SessionDep, _: AdminAccess) -> None:
    session.delete(_hook_or_404(session, name))
    session.commit()

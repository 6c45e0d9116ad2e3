"""Webhook endpoints: managing them (/api/v1/hooks) and receiving them (/hooks/{name})."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from service.api.deps import ApiKeyDep, SenderDep, SessionDep, SettingsDep
from service.api.problems import Problem
from service.store.models import Hook
from service.store.repositories import workflows as workflows_repo
from service.triggers import webhook
from service.triggers.ledger import announce, record_trigger

admin = APIRouter(prefix="/api/v1/hooks", tags=["hooks"])
ingress = APIRouter(tags=["ingress"])

MAX_BODY_BYTES = 1024 * 1024
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"


class HookCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    workflow: str
    parameters: dict[str, str] = Field(
        default_factory=dict,
        description='run parameter → JSON path into the body, e.g. {"run_date": "$.date"}',
    )
    secret: str | None = Field(default=None, min_length=16, max_length=200)

    @field_validator("parameters")
    @classmethod
    def _paths_are_valid(cls, value: dict[str, str]) -> dict[str, str]:
        for name, path in value.items():
            if not webhook.is_valid_path(path):
                raise ValueError(f"parameter {name!r}: {path!r} is not a path like $.field.sub[0]")
        return value


def _public(hook: Hook) -> dict[str, Any]:
    return {
        "name": hook.name,
        "workflow": hook.workflow_name,
        "parameters": hook.parameters,
        "url": f"/hooks/{hook.name}",
        "created_at": hook.created_at.isoformat(),
    }


@admin.post("", status_code=201)
def create_hook(body: HookCreate, session: SessionDep, _: ApiKeyDep) -> dict[str, Any]:
    if workflows_repo.get_workflow_by_name(session, name=body.workflow) is None:
        raise Problem(
            422,
            "Unknown workflow",
            f"no workflow is named {body.workflow!r}",
            errors=[{"path": "$.workflow", "message": "names no existing workflow"}],
        )
    if workflows_repo.get_hook(session, name=body.name) is not None:
        raise Problem(409, "Hook exists", f"a hook named {body.name!r} exists")
    secret = body.secret or secrets.token_hex(32)
    hook = workflows_repo.create_hook(
        session,
        name=body.name,
        workflow_name=body.workflow,
        secret=secret,
        parameters=body.parameters,
    )
    session.commit()
    # The only time the secret is returned.
    return {**_public(hook), "secret": secret}


@admin.get("")
def list_hooks(session: SessionDep, _: ApiKeyDep) -> dict[str, Any]:
    return {"items": [_public(h) for h in workflows_repo.list_hooks(session)]}


@admin.get("/{name}")
def get_hook(name: str, session: SessionDep, _: ApiKeyDep) -> dict[str, Any]:
    hook = workflows_repo.get_hook(session, name=name)
    if hook is None:
        raise Problem(404, "Hook not found", f"no hook is named {name!r}")
    return _public(hook)


@admin.delete("/{name}", status_code=204)
def delete_hook(name: str, session: SessionDep, _: ApiKeyDep) -> None:
    hook = workflows_repo.get_hook(session, name=name)
    if hook is None:
        raise Problem(404, "Hook not found", f"no hook is named {name!r}")
    session.delete(hook)
    session.commit()


@ingress.post("/hooks/{name}", status_code=202)
async def receive_hook(
    name: str, request: Request, session: SessionDep, settings: SettingsDep, sender: SenderDep
) -> JSONResponse:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Problem(413, "Body too large", f"the limit is {MAX_BODY_BYTES} bytes")
    hook = workflows_repo.get_hook(session, name=name)
    if hook is None:
        raise Problem(404, "Hook not found", f"no hook is named {name!r}")
    signature = request.headers.get(webhook.SIGNATURE_HEADER)
    try:
        webhook.verify(
            secret=hook.secret,
            timestamp=request.headers.get(webhook.TIMESTAMP_HEADER),
            signature=signature,
            body=raw,
            now=time.time(),
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    except webhook.InvalidSignature as exc:
        raise Problem(401, "Invalid signature", str(exc)) from exc
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise Problem(400, "Body is not JSON", f"the body could not be parsed: {exc}") from exc
    try:
        parameters = webhook.extract_parameters(hook.parameters, body)
    except webhook.ParameterMappingError as exc:
        raise Problem(
            422, "Missing field", exc.message, errors=[{"path": exc.path, "message": exc.message}]
        ) from exc
    workflow = workflows_repo.get_workflow_by_name(session, name=hook.workflow_name)
    if workflow is None:
        raise Problem(
            409,
            "Workflow missing",
            f"hook {name!r} names workflow {hook.workflow_name!r}, which is gone",
        )
    idempotency_key = request.headers.get(webhook.IDEMPOTENCY_HEADER)
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 150:
        raise Problem(400, "Bad Idempotency-Key", "it must be 1 to 150 characters")
    # Without an Idempotency-Key the signature is the key, so a replay of the very same
    # signed request within the tolerance window is recognised too.
    dedupe_key = f"key:{idempotency_key}" if idempotency_key else f"sig:{signature}"
    accepted = record_trigger(
        session,
        source="webhook",
        source_name=hook.name,
        dedupe_key=dedupe_key,
        workflow_id=workflow.id,
        payload=body if isinstance(body, dict) else {"body": body},
        parameters=parameters,
    )
    session.commit()
    announce(sender, accepted)
    headers = {} if accepted.created else {"Idempotent-Replayed": "true"}
    return JSONResponse(
        {"event_id": accepted.event_id, "duplicate": not accepted.created},
        status_code=202,
        headers=headers,
    )

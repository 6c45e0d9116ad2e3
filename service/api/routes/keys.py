"""/api/v1/keys: API keys with scopes, shown once, revocable. Admin only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, field_validator

from service.api.access import normalise_scopes
from service.api.deps import AdminAccess, SessionDep
from service.api.keys import new_api_key
from service.api.problems import Problem
from service.store.models import ApiKey, utcnow
from service.store.repositories import api_keys as keys_repo

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1)

    @field_validator("scopes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        return normalise_scopes(value)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _public(key: ApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": key.scopes,
        "created_at": _iso(key.created_at),
        "last_used_at": _iso(key.last_used_at),
        "revoked_at": _iso(key.revoked_at),
    }


@router.post("", status_code=201)
def create_key(body: KeyCreate, session: SessionDep, _: AdminAccess) -> dict[str, Any]:
    plaintext, prefix, key_hash = new_api_key()
    key = keys_repo.add_api_key(
        session, name=body.name, prefix=prefix, key_hash=key_hash, scopes=body.scopes
    )
    session.commit()
    return {**_public(key), "key": plaintext}  # the only time the key is shown


@router.get("")
def list_keys(session: SessionDep, _: AdminAccess, include_revoked: bool = False) -> dict[str, Any]:
    keys = keys_repo.list_keys(session, include_revoked=include_revoked)
    return {"items": [_public(k) for k in keys]}


@router.delete("/{key_id}", status_code=204)
def revoke_key(key_id: str, session: SessionDep, _: AdminAccess) -> Response:
    if not keys_repo.revoke_key(session, key_id=key_id, at=utcnow()):
        raise Problem(404, "Key not found", f"no active key has id {key_id!r}")
    session.commit()
    return Response(status_code=204)

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.store.models import ApiKey


def add_api_key(
    session: Session,
    *,
    name: str,
    prefix: str,
    key_hash: str,
    scopes: Sequence[str] = ("admin",),
) -> ApiKey:
    key = ApiKey(name=name, prefix=prefix, key_hash=key_hash, scopes=list(scopes))
    session.add(key)
    session.flush()
    return key


def find_active_key(session: Session, *, key_hash: str) -> ApiKey | None:
    return session.scalars(
        select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
    ).one_or_none()


def find_key_by_name(session: Session, *, name: str) -> ApiKey | None:
    return session.scalars(
        select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    ).first()


def touch_key(session: Session, *, key_id: str, at: datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at))


def list_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_key(session: Session, *, key_id: str, at: datetime) -> bool:
    result = session.execute(
        update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None)).values(revoked_at=at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]

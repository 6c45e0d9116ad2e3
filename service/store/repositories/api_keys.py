from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.store.models import ApiKey


def add_api_key(session: Session, *, name: str, prefix: str, key_hash: str) -> ApiKey:
    key = ApiKey(name=name, prefix=prefix, key_hash=key_hash)
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

"""Dependencies as Annotated aliases, read from app state built by ``create_app``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.api.access import Principal, Scope
from service.api.entra import EntraVerifier, InvalidToken
from service.api.keys import KEY_PREFIX, hash_api_key
from service.api.problems import Problem
from service.runs.queue import TaskSender
from service.settings import Settings
from service.store.models import utcnow
from service.store.repositories import api_keys as keys_repo


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _sender(request: Request) -> TaskSender:
    sender: TaskSender = request.app.state.task_sender
    return sender


SessionDep = Annotated[Session, Depends(_session)]
SettingsDep = Annotated[Settings, Depends(_settings)]
SenderDep = Annotated[TaskSender, Depends(_sender)]


_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _unauthenticated(detail: str, title: str = "Authentication required") -> Problem:
    return Problem(401, title, detail, headers={"WWW-Authenticate": "Bearer"})


def _principal(request: Request, session: SessionDep) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _unauthenticated("send an API key or token as 'Authorization: Bearer <key>'")
    if token.startswith(KEY_PREFIX):
        return _from_api_key(session, token)
    verifier: EntraVerifier | None = getattr(request.app.state, "entra", None)
    if verifier is None:
        raise _unauthenticated("the key is unknown or revoked", "Invalid API key")
    try:
        return verifier.verify(token)
    except InvalidToken as exc:
        raise _unauthenticated(str(exc)) from exc


def _from_api_key(session: Session, token: str) -> Principal:
    key = keys_repo.find_active_key(session, key_hash=hash_api_key(token))
    if key is None:
        raise _unauthenticated("the key is unknown or revoked", "Invalid API key")
    now = utcnow()
    # Record use at minute resolution: one write per key per minute, not per request.
    if key.last_used_at is None or now - key.last_used_at > _LAST_USED_RESOLUTION:
        keys_repo.touch_key(session, key_id=key.id, at=now)
        session.commit()
    return Principal(kind="api_key", name=key.name, scopes=frozenset(key.scopes), key_id=key.id)


PrincipalDep = Annotated[Principal, Depends(_principal)]


def require(scope: Scope) -> Callable[[Principal], Principal]:
    def _check(principal: PrincipalDep) -> Principal:
        if not principal.allows(scope):
            raise Problem(403, "Not allowed", f"this needs the {scope!r} scope")
        return principal

    return _check


ReadAccess = Annotated[Principal, Depends(require("read"))]
TriggerAccess = Annotated[Principal, Depends(require("trigger"))]
AdminAccess = Annotated[Principal, Depends(require("admin"))]

"""Dependencies as Annotated aliases, read from app state built by ``create_app``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from service.api.keys import hash_api_key
from service.api.problems import Problem
from service.runs.queue import TaskSender
from service.settings import Settings
from service.store.models import ApiKey
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


def _api_key(request: Request, session: SessionDep) -> ApiKey:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(
            401,
            "Authentication required",
            "send an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    key = keys_repo.find_active_key(session, key_hash=hash_api_key(token.strip()))
    if key is None:
        raise Problem(
            401,
            "Invalid API key",
            "the key is unknown or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return key


ApiKeyDep = Annotated[ApiKey, Depends(_api_key)]

"""Builders shared by the API and end-to-end tests."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from service.api.keys import new_api_key
from service.settings import Settings
from service.store.repositories.api_keys import add_api_key
from service.triggers.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.databases import database_url_for


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "databricks_token": "local-dev-token",
        "poll_interval_seconds": 0.5,
        "sweep_interval_seconds": 1.0,
        "stuck_after_seconds": 3.0,
        "alert_backoff_seconds": 0.5,
        # A worker SIGKILLed mid-sweep holds the poll lock until it expires: keep that short.
        "poll_lock_seconds": 10.0,
    }
    values.update(overrides)
    if "database_url" not in values:  # made only when needed: on PostgreSQL it's a new database
        values["database_url"] = database_url_for(tmp_path)
    return Settings(**values)


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as LOCKGATE_* variables, for a worker subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if hasattr(getattr(settings, name), "get_secret_value"):
            value = getattr(settings, name).get_secret_value()
        env[f"LOCKGATE_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def create_api_key(sessions: sessionmaker[Session]) -> str:
    plaintext, prefix, key_hash = new_api_key()
    with sessions.begin() as session:
        add_api_key(session, name="test", prefix=prefix, key_hash=key_hash)
    return plaintext


def signed_post(
    client: httpx.Client,
    hook: str,
    secret: str,
    body: bytes,
    *,
    idempotency_key: str | None = None,
    timestamp: int | None = None,
) -> httpx.Response:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: sign(secret, ts, body),
    }
    if idempotency_key:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    return client.post(f"/hooks/{hook}", content=body, headers=headers)


def simple_workflow(name: str = "wf", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "tasks": [
            {"task_key": "only", "type": "notebook", "notebook_path": "/Shared/x", "max_retries": 0}
        ],
        **extra,
    }

"""Development set-up for `lockgate up`: a dev API key and the ETL example, installed
through the same repositories the API uses. Development only: the key and hook secret
are kept in files under the data dir so `up` can print them again."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from service.api.keys import hash_api_key, new_api_key
from service.databricks.local import seed_example
from service.settings import Settings
from service.store.repositories import api_keys as keys_repo
from service.store.repositories import workflows as workflows_repo
from service.workflows import load_document, parse_workflow

DEV_KEY_NAME = "development"
EXAMPLE_HOOK = "etl-example"
EXAMPLE_HOOK_PARAMETERS = {"processing_date": "$.date"}


@dataclass(frozen=True)
class ExampleInstall:
    workflow_name: str
    hook_name: str
    hook_secret: str


def _read_private(path: Path) -> str | None:
    return path.read_text().strip() if path.exists() else None


def _write_private(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")


def ensure_dev_hint_secret(data_dir: Path) -> str:
    """The secret Databricks notification hints are checked with (kept across restarts,
    so destinations the local backend holds stay valid)."""
    secret_file = data_dir / "dev-hint-secret"
    secret = _read_private(secret_file) or secrets.token_hex(32)
    _write_private(secret_file, secret)
    return secret


def ensure_dev_api_key(sessions: sessionmaker[Session], data_dir: Path) -> str:
    key_file = data_dir / "dev-api-key"
    with sessions.begin() as session:
        known = _read_private(key_file)
        if known and keys_repo.find_active_key(session, key_hash=hash_api_key(known)):
            return known
        plaintext, prefix, key_hash = new_api_key()
        keys_repo.add_api_key(session, name=DEV_KEY_NAME, prefix=prefix, key_hash=key_hash)
    _write_private(key_file, plaintext)
    return plaintext


def install_example(sessions: sessionmaker[Session], settings: Settings) -> ExampleInstall:
    workflow_file = seed_example(settings.workspace_dir, settings.dbfs_root)
    definition = parse_workflow(load_document(workflow_file.read_bytes()))
    secret_file = settings.data_dir / "dev-hook-secret"
    with sessions.begin() as session:
        workflow = workflows_repo.get_workflow_by_name(session, name=definition.name)
        if workflow is None:
            workflows_repo.create_workflow(session, name=definition.name, source=definition.source)
        else:
            workflows_repo.replace_workflow_source(
                session, workflow=workflow, source=definition.source
            )
        hook = workflows_repo.get_hook(session, name=EXAMPLE_HOOK)
        if hook is None:
            secret = _read_private(secret_file) or secrets.token_hex(32)
            hook = workflows_repo.create_hook(
                session,
                name=EXAMPLE_HOOK,
                workflow_name=definition.name,
                secret=secret,
                parameters=EXAMPLE_HOOK_PARAMETERS,
            )
        secret = hook.secret
    _write_private(secret_file, secret)
    return ExampleInstall(workflow_name=definition.name, hook_name=EXAMPLE_HOOK, hook_secret=secret)

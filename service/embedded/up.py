"""`lockgate up`: everything on embedded defaults, in one command.

SQLite and data under the data dir, a real Redis (the configured one, or a private
redis-server), the local Databricks backend, one worker with the periodic poll and
sweep, and the API. Ctrl-C stops every process it started.
"""

from __future__ import annotations

import os
import shlex
import socket
import sys
import time

import httpx

from service.commands.local import local_databricks_config
from service.databricks.local import LocalBackendConfig
from service.embedded.bootstrap import ensure_dev_api_key, ensure_dev_hint_secret, install_example
from service.embedded.redis_server import redis_reachable, start_private_redis
from service.embedded.supervisor import Supervisor
from service.settings import Settings
from service.store.db import engine_from_settings, make_session_factory
from service.store.migrate import upgrade


def local_backend_config(settings: Settings) -> LocalBackendConfig:
    """The embedded backend keeps its workspace, DBFS and runs under Lockgate's data dir."""
    return local_databricks_config(
        settings,
        workspace_dir=settings.workspace_dir,
        dbfs_root=settings.dbfs_root,
        runs_dir=settings.data_dir / "local-runs",
        public_url=settings.databricks_url,
    )


def run_up(settings: Settings) -> int:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"data_dir": data_dir})
    _require_free_port(settings.api_host, settings.api_port, "LOCKGATE_API_PORT")
    if settings.uses_local_backend:
        _require_free_port(
            settings.local_backend_host, settings.local_backend_port, "LOCKGATE_LOCAL_BACKEND_PORT"
        )

    supervisor = Supervisor(grace_seconds=settings.shutdown_grace_seconds)
    redis_url = settings.redis_url
    if redis_url:
        if not redis_reachable(redis_url):
            raise RuntimeError(
                f"LOCKGATE_REDIS_URL is set but Redis does not answer at {redis_url}"
            )
    else:
        redis_url, redis_process = start_private_redis(data_dir / "redis")
        supervisor.adopt("redis-server", redis_process)
    settings = settings.model_copy(update={"redis_url": redis_url})

    upgrade(settings.resolved_database_url)
    engine = engine_from_settings(settings)
    sessions = make_session_factory(engine)
    api_key = ensure_dev_api_key(sessions, data_dir)
    example = install_example(sessions, settings) if settings.uses_local_backend else None
    engine.dispose()

    env = {**os.environ, "LOCKGATE_DATA_DIR": str(data_dir), "LOCKGATE_REDIS_URL": redis_url}
    if settings.uses_local_backend and settings.databricks_hint_secret is None:
        # The local backend tells Lockgate when runs end, as a workspace's notification
        # destination does: endings are recorded at once, polling is the safety net.
        env["LOCKGATE_DATABRICKS_HINT_SECRET"] = ensure_dev_hint_secret(data_dir)
    # File-arrival triggers read a local inbox unless real storage is configured.
    inbox = settings.local_inbox_dir or data_dir / "inbox"
    if settings.blob_connection_string is None and not settings.blob_use_identity:
        inbox.mkdir(parents=True, exist_ok=True)
        env["LOCKGATE_LOCAL_INBOX_DIR"] = str(inbox)
    cli = [sys.executable, "-m", "service.cli"]
    try:
        if settings.uses_local_backend:
            supervisor.start("local-backend", [*cli, "local-backend"], env)
            _wait_http(f"{settings.databricks_url}/healthz", "the local backend")
        supervisor.start("worker", [*cli, "worker", "--beat"], env)
        supervisor.start("scheduler", [*cli, "scheduler"], env)
        supervisor.start("listener", [*cli, "listener"], env)
        supervisor.start("api", [*cli, "api"], env)
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        _wait_http(f"{api_url}/healthz", "the API")
    except RuntimeError:
        supervisor.stop()
        raise

    print(
        _banner(
            api_url,
            api_key,
            example.hook_name if example else None,
            example.hook_secret if example else None,
        ),
        flush=True,
    )
    return supervisor.wait()


def _banner(api_url: str, api_key: str, hook: str | None, secret: str | None) -> str:
    lines = [
        "",
        "Lockgate is up.",
        f"  API:      {api_url}   (docs: {api_url}/docs)",
        f"  Console:  {api_url}/ui   (sign in with the API key below)",
        f"  API key:  {api_key}",
        f"  try:      curl -H 'Authorization: Bearer {api_key}' {api_url}/api/v1/workflows",
    ]
    if hook and secret:
        body = '{"date": "2026-11-25"}'
        curl = (
            f"body={shlex.quote(body)}; ts=$(date +%s); "
            f'sig=$(printf \'%s.%s\' "$ts" "$body" | openssl dgst -sha256 -hmac '
            f"{shlex.quote(secret)} | sed 's/^.*= //'); "
            f"curl -sS -X POST {api_url}/hooks/{hook} -H 'Content-Type: application/json' "
            f'-H "X-Lockgate-Timestamp: $ts" -H "X-Lockgate-Signature: sha256=$sig" '
            f'-d "$body"'
        )
        lines += [
            "",
            "Trigger the ETL example with a signed webhook:",
            f"  {curl}",
            "or:",
            f"  .venv/bin/lockgate trigger {hook} --secret={shlex.quote(secret)} "
            f"--data {shlex.quote(body)}",
            "then watch it:",
            f"  curl -H 'Authorization: Bearer {api_key}' {api_url}/api/v1/runs",
        ]
    lines.append(
        "\nFile-arrival triggers read ./.lockgate/inbox/<container>/<path> "
        "(abfss://container@account.../path maps there)."
    )
    lines.append("\nCtrl-C stops everything.")
    return "\n".join(lines)


def _require_free_port(host: str, port: int, setting: str) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"{host}:{port} is in use; set {setting} to another port") from exc


def _wait_http(url: str, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url} within {timeout:.0f} s")

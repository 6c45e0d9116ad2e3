"""The `lockgate` command. Each command parses options, builds Settings and calls a
plain function; a domain error becomes one line on stderr and exit code 1."""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import time
from typing import Annotated

import httpx
import typer

from service.logging_config import configure_logging
from service.settings import get_settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Lockgate: start Databricks runs from webhooks, files and schedules, exactly once.",
)

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")]


def _fail(message: str) -> None:
    typer.echo(f"lockgate: {message}", err=True)
    raise typer.Exit(1)


@app.command()
def up(verbose: Verbose = False) -> None:
    """Run Lockgate on its embedded defaults: API, worker, sweep, local Databricks backend."""
    configure_logging(verbose)
    from service.embedded.up import run_up

    try:
        code = run_up(get_settings())
    except RuntimeError as exc:
        _fail(str(exc))
    raise typer.Exit(code)


@app.command()
def api(
    workers: Annotated[
        int | None, typer.Option(min=1, help="processes (default: LOCKGATE_API_WORKERS, 1)")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Serve the HTTP API."""
    configure_logging(verbose)
    import uvicorn
    from fastapi import FastAPI

    from service.app import create_app

    settings = get_settings()
    # On SIGTERM uvicorn stops accepting, lets requests in flight finish (for at most the
    # grace period), then raises the signal again for the handler it found: a no-op one
    # makes that drained shutdown exit 0 instead of dying by the signal.
    signal.signal(signal.SIGTERM, lambda *_: None)
    processes = workers or settings.api_workers
    # Several processes share the port: each builds its own app from the environment.
    if processes > 1:
        target: str | FastAPI = "service.app:create_app_from_environment"
    else:
        target = create_app(settings, server_process=True)
    uvicorn.run(
        target,
        factory=processes > 1,
        workers=processes,
        host=settings.api_host,
        port=settings.api_port,
        log_config=None,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
    )


@app.command()
def worker(
    beat: Annotated[bool, typer.Option(help="also run the periodic poll and sweep")] = False,
    concurrency: Annotated[int, typer.Option(min=1)] = 8,
    verbose: Verbose = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Liveness probe: exit 0 if a worker on this host answers a Celery ping.",
        ),
    ] = False,
) -> None:
    """Run a Celery worker (threads pool)."""
    if check:
        _ping_local_worker()
    configure_logging(verbose)
    from workers.celery_app import create_celery

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency}",
        "--loglevel=DEBUG" if verbose else "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        f"--hostname=lockgate-{os.getpid()}@%h",
    ]
    if beat:
        argv.append("--beat")
    create_celery(settings).worker_main(argv)


def _ping_local_worker() -> None:
    """A ping over the broker to the workers of this host (its pod or container) only."""
    from service.runs.queue import make_celery

    celery = make_celery(get_settings(), name="lockgate-probe")
    try:
        pong = celery.control.ping(
            timeout=5.0, pattern=f"*@{socket.gethostname()}", matcher="glob", limit=1
        )
    finally:
        celery.close()
    if not pong:
        typer.echo("no worker on this host answered", err=True)
        raise typer.Exit(1)
    typer.echo(f"worker answered: {next(iter(pong[0]))}")
    raise typer.Exit(0)


@app.command("local-backend", hidden=True)
def local_backend(verbose: Verbose = False) -> None:
    """Serve the local Databricks backend (Jobs API over HTTP, tasks as local processes)."""
    configure_logging(verbose)
    from service.databricks.local import serve_local_backend
    from service.embedded.up import local_backend_config

    settings = get_settings()
    serve_local_backend(
        local_backend_config(settings),
        host=settings.local_backend_host,
        port=settings.local_backend_port,
    )


@app.command()
def migrate() -> None:
    """Apply the database migrations."""
    from service.store.migrate import upgrade

    upgrade(get_settings().resolved_database_url)


@app.command("create-key")
def create_key(
    name: str,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="read, trigger or admin (repeatable)")
    ] = None,
) -> None:
    """Create an API key and print it (it is shown once). Default scope: admin."""
    from service.api.access import normalise_scopes
    from service.api.keys import new_api_key
    from service.store.db import engine_from_settings, make_session_factory
    from service.store.migrate import upgrade
    from service.store.repositories.api_keys import add_api_key

    try:
        scopes = normalise_scopes(scope or ["admin"])
    except ValueError as exc:
        _fail(str(exc))
    settings = get_settings()
    upgrade(settings.resolved_database_url)
    sessions = make_session_factory(engine_from_settings(settings))
    plaintext, prefix, key_hash = new_api_key()
    with sessions.begin() as session:
        add_api_key(session, name=name, prefix=prefix, key_hash=key_hash, scopes=scopes)
    typer.echo(plaintext)


@app.command("revoke-key")
def revoke_key(key_id: str) -> None:
    """Revoke an API key by id (see GET /api/v1/keys)."""
    from service.store.db import engine_from_settings, make_session_factory
    from service.store.models import utcnow
    from service.store.repositories.api_keys import revoke_key as revoke

    settings = get_settings()
    sessions = make_session_factory(engine_from_settings(settings))
    with sessions.begin() as session:
        if not revoke(session, key_id=key_id, at=utcnow()):
            _fail(f"no active key has id {key_id!r}")
    typer.echo(f"revoked {key_id}")


@app.command()
def trigger(
    hook: str,
    secret: Annotated[str, typer.Option(envvar="LOCKGATE_HOOK_SECRET", help="the hook's secret")],
    data: Annotated[str, typer.Option(help="JSON body")] = "{}",
    url: Annotated[str | None, typer.Option(help="API base URL")] = None,
    idempotency_key: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Send a signed webhook to POST /hooks/{hook}."""
    from service.triggers.webhook import (
        IDEMPOTENCY_HEADER,
        SIGNATURE_HEADER,
        TIMESTAMP_HEADER,
        sign,
    )

    settings = get_settings()
    base = url or f"http://{settings.api_host}:{settings.api_port}"
    try:
        json.loads(data)
    except ValueError as exc:
        _fail(f"--data is not JSON: {exc}")
    body = data.encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }
    if idempotency_key:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    try:
        response = httpx.post(f"{base}/hooks/{hook}", content=body, headers=headers)
    except httpx.HTTPError as exc:
        _fail(f"could not reach {base}: {exc}")
    typer.echo(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)


def main() -> None:
    from service.commands import register_all

    register_all(app)
    app(prog_name="lockgate")


if __name__ == "__main__":
    main()

"""Commands for trigger sources: ``lockgate scheduler``, ``lockgate listener`` (long-running,
several replicas allowed), and ``lockgate hooks ...`` / ``lockgate events ...``, which call
the HTTP API (``--url``; ``--key`` or ``LOCKGATE_API_KEY``) so its validation applies."""

from __future__ import annotations

import json
import signal
from typing import Annotated, Any

import typer

from service.commands._api import Key, Url, call_api, print_json
from service.settings import Settings, get_settings

hooks = typer.Typer(
    help="Webhook endpoints: create, list, rotate, disable, delete.", no_args_is_help=True
)
events = typer.Typer(help="The trigger ledger: list, show, replay, dry run.", no_args_is_help=True)

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")]


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the `lockgate` app."""
    app.command("scheduler")(scheduler)
    app.command("listener")(listener)
    app.add_typer(hooks, name="hooks")
    app.add_typer(events, name="events")


def _loop_parts(settings: Settings) -> tuple[Any, Any, Any]:
    from service.runs.queue import CeleryTaskSender, make_celery
    from service.store.db import make_engine, make_session_factory

    engine = make_engine(settings.resolved_database_url)
    celery = make_celery(settings, name="lockgate-triggers")
    return engine, make_session_factory(engine), (celery, CeleryTaskSender(celery))


def scheduler(verbose: Verbose = False) -> None:
    """Fire schedules (cron, periodic) and check expectations; runs until Ctrl-C."""
    from service.logging_config import configure_logging
    from service.triggers.scheduler import Scheduler

    configure_logging(verbose)
    settings = get_settings()
    try:
        engine, sessions, (celery, sender) = _loop_parts(settings)
    except RuntimeError as exc:
        typer.echo(f"lockgate: {exc}", err=True)
        raise typer.Exit(1) from exc
    loop = Scheduler(sessions, sender, settings)
    _stop_on_signals(loop.shutdown)
    try:
        loop.run()
    finally:
        celery.close()
        engine.dispose()


def listener(verbose: Verbose = False) -> None:
    """Poll file-arrival locations (Azure Blob, or the local inbox); runs until Ctrl-C."""
    from service.logging_config import configure_logging
    from service.triggers.listener import Listener

    configure_logging(verbose)
    settings = get_settings()
    try:
        engine, sessions, (celery, sender) = _loop_parts(settings)
    except RuntimeError as exc:
        typer.echo(f"lockgate: {exc}", err=True)
        raise typer.Exit(1) from exc
    loop = Listener(sessions, sender, settings)
    _stop_on_signals(loop.shutdown)
    try:
        loop.run()
    finally:
        celery.close()
        engine.dispose()


def _stop_on_signals(stop: Any) -> None:
    """A signal only sets the flag; the loop finishes its round and exits."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop())


@hooks.command("create")
def hooks_create(
    name: str,
    workflow: Annotated[list[str], typer.Option("--workflow", "-w", help="target (repeatable)")],
    key: Key,
    parameter: Annotated[
        list[str], typer.Option("--parameter", "-p", help="name=source ($.x, header:X, query:x)")
    ] = [],  # noqa: B006 (typer reads the default)
    verification: Annotated[str, typer.Option(help="lockgate, github or token")] = "lockgate",
    filter_json: Annotated[str | None, typer.Option("--filters", help="JSON list of rules")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="deliveries per minute")] = None,
    url: Url = None,
) -> None:
    """Create a hook; prints its secret, once."""
    parameters = dict(p.split("=", 1) for p in parameter if "=" in p)
    body: dict[str, Any] = {
        "name": name,
        "workflows": workflow,
        "parameters": parameters,
        "verification": verification,
        "rate_limit_per_minute": rate_limit,
    }
    if filter_json:
        body["filters"] = json.loads(filter_json)
    print_json(call_api("POST", "/api/v1/hooks", key, url, body))


@hooks.command("list")
def hooks_list(key: Key, url: Url = None) -> None:
    print_json(call_api("GET", "/api/v1/hooks", key, url))


@hooks.command("rotate-secret")
def hooks_rotate(
    name: str,
    key: Key,
    grace_seconds: Annotated[
        int | None, typer.Option(help="old secret stays valid this long")
    ] = None,
    url: Url = None,
) -> None:
    """Rotate a hook's secret; prints the new one, once."""
    print_json(
        call_api(
            "POST",
            f"/api/v1/hooks/{name}/rotate-secret",
            key,
            url,
            {"grace_seconds": grace_seconds},
        )
    )


@hooks.command("disable")
def hooks_disable(name: str, key: Key, url: Url = None) -> None:
    print_json(call_api("POST", f"/api/v1/hooks/{name}/disable", key, url))


@hooks.command("enable")
def hooks_enable(name: str, key: Key, url: Url = None) -> None:
    print_json(call_api("POST", f"/api/v1/hooks/{name}/enable", key, url))


@hooks.command("delete")
def hooks_delete(name: str, key: Key, url: Url = None) -> None:
    call_api("DELETE", f"/api/v1/hooks/{name}", key, url)


@events.command("list")
def events_list(
    key: Key,
    source: str | None = None,
    verdict: str | None = None,
    workflow: str | None = None,
    limit: int = 50,
    page_token: str | None = None,
    url: Url = None,
) -> None:
    query = {"source": source, "verdict": verdict, "workflow": workflow, "limit": limit}
    query["page_token"] = page_token
    params = "&".join(f"{k}={v}" for k, v in query.items() if v is not None)
    print_json(call_api("GET", f"/api/v1/events?{params}", key, url))


@events.command("show")
def events_show(event_id: str, key: Key, url: Url = None) -> None:
    print_json(call_api("GET", f"/api/v1/events/{event_id}", key, url))


@events.command("replay")
def events_replay(event_id: str, key: Key, url: Url = None) -> None:
    """A new run from an event's parameters, linked to it."""
    print_json(call_api("POST", f"/api/v1/events/{event_id}/replay", key, url))


@events.command("test")
def events_test(
    key: Key,
    hook: Annotated[str | None, typer.Option(help="dry-run a delivery to this hook")] = None,
    data: Annotated[str, typer.Option(help="JSON body")] = "{}",
    file_url: Annotated[str | None, typer.Option(help="or: a file location")] = None,
    url: Url = None,
) -> None:
    """Which workflows would start, with which parameters; records nothing."""
    body: dict[str, Any] = (
        {"hook": hook, "body": json.loads(data)} if hook else {"file_url": file_url}
    )
    print_json(call_api("POST", "/api/v1/events:test", key, url, body))

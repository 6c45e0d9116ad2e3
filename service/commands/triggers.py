"""Commands for trigger sources: ``lockgate scheduler``, ``lockgate listener`` (long-running,
several replicas allowed), and ``lockgate hooks|events|schedules|file-watches|expectations
...``, which call the HTTP API (``--url``; ``--key`` or ``LOCKGATE_API_KEY``) so its
validation applies."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Annotated, Any, Protocol

import typer

from service.commands._api import Key, Url, call_api, print_json
from service.observability.heartbeat import Heartbeat
from service.settings import get_settings

hooks = typer.Typer(
    help="Webhook endpoints: create, list, rotate, disable, delete.", no_args_is_help=True
)
events = typer.Typer(help="The trigger ledger: list, show, replay, dry run.", no_args_is_help=True)
schedules = typer.Typer(
    help="Cron and periodic schedules: list, pause, unpause.", no_args_is_help=True
)
file_watches = typer.Typer(
    help="File-arrival triggers: list, pause, unpause.", no_args_is_help=True
)
expectations = typer.Typer(
    help="Absence triggers (a file or a successful run by a deadline): list, create, delete.",
    no_args_is_help=True,
)

Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")]


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the `lockgate` app."""
    app.command("scheduler")(scheduler)
    app.command("listener")(listener)
    app.add_typer(hooks, name="hooks")
    app.add_typer(events, name="events")
    app.add_typer(schedules, name="schedules")
    app.add_typer(file_watches, name="file-watches")
    app.add_typer(expectations, name="expectations")


class _Loop(Protocol):
    def run(self) -> None: ...
    def shutdown(self) -> None: ...


def _run_loop(make_loop: Callable[..., _Loop], component: str, verbose: bool) -> None:
    """Builds what a trigger loop needs, runs it until a signal, and closes it all."""
    from service.logging_config import configure_logging
    from service.runs.queue import CeleryTaskSender, make_celery
    from service.store.db import engine_from_settings, make_session_factory

    configure_logging(verbose)
    settings = get_settings()
    try:
        celery = make_celery(settings, name="lockgate-triggers")
    except RuntimeError as exc:
        typer.echo(f"lockgate: {exc}", err=True)
        raise typer.Exit(1) from exc
    engine = engine_from_settings(settings)
    loop = make_loop(
        make_session_factory(engine),
        CeleryTaskSender(celery),
        settings,
        heartbeat=Heartbeat.for_component(settings.data_dir, component),
    )
    _stop_on_signals(loop.shutdown, settings.shutdown_grace_seconds)
    try:
        loop.run()
    finally:
        celery.close()
        engine.dispose()


Check = Annotated[
    bool,
    typer.Option(
        "--check",
        help="Liveness probe: exit 0 if this container's loop went round lately, else 1.",
    ),
]
MaxAge = Annotated[float, typer.Option(help="With --check: the oldest heartbeat that passes.")]


def scheduler(verbose: Verbose = False, check: Check = False, max_age: MaxAge = 60.0) -> None:
    """Fire schedules (cron, periodic) and check expectations; runs until Ctrl-C."""
    from service.triggers.scheduler import Scheduler

    if check:
        _check_heartbeat("scheduler", max_age)
    _run_loop(Scheduler, "scheduler", verbose)


def listener(verbose: Verbose = False, check: Check = False, max_age: MaxAge = 120.0) -> None:
    """Poll file-arrival locations (Azure Blob, or the local inbox); runs until Ctrl-C."""
    from service.triggers.listener import Listener

    if check:
        _check_heartbeat("listener", max_age)
    _run_loop(Listener, "listener", verbose)


def _check_heartbeat(component: str, max_age: float) -> None:
    heartbeat = Heartbeat.for_component(get_settings().data_dir, component)
    age = heartbeat.age_seconds()
    if age is None or age > max_age:
        said = "never" if age is None else f"{age:.0f} s ago"
        typer.echo(f"{component}: last went round {said} (limit {max_age:g} s)", err=True)
        raise typer.Exit(1)
    typer.echo(f"{component}: went round {age:.1f} s ago")
    raise typer.Exit(0)


def _stop_on_signals(stop: Callable[[], None], grace_seconds: float) -> None:
    """SIGTERM or SIGINT stops the loop: the work in hand (a batch of fires, a poll) is
    committed, no more is taken, and the process exits 0. Work still unfinished after the
    grace period (a store or database that does not answer) is abandoned: its transaction
    rolls back as the process ends, a watch's lease lapses, and the exit is still 0.

    The signals are taken by a thread of their own (``sigwait``), not a Python handler:
    a handler runs only when the main thread is between bytecodes, and a main thread
    blocked in a database call would hold it, and the grace period, up."""
    signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # threads started later inherit it

    def wait_for_signal() -> None:
        signal.sigwait(signals)
        stop()
        time.sleep(grace_seconds)
        logging.getLogger(__name__).warning(
            "shutdown grace period over; exiting with the round in progress uncommitted"
        )
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(0)

    threading.Thread(target=wait_for_signal, name="signals", daemon=True).start()


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


@schedules.command("list")
def schedules_list(key: Key, url: Url = None) -> None:
    print_json(call_api("GET", "/api/v1/schedules", key, url))


@schedules.command("pause")
def schedules_pause(workflow: str, key: Key, url: Url = None) -> None:
    """Stop firing until unpaused; overrides the definition's pause_status."""
    print_json(call_api("PATCH", f"/api/v1/schedules/{workflow}", key, url, {"paused": True}))


@schedules.command("unpause")
def schedules_unpause(workflow: str, key: Key, url: Url = None) -> None:
    """Fire again from now on: the occurrences missed while paused are not caught up."""
    print_json(call_api("PATCH", f"/api/v1/schedules/{workflow}", key, url, {"paused": False}))


@file_watches.command("list")
def file_watches_list(key: Key, url: Url = None) -> None:
    print_json(call_api("GET", "/api/v1/file-watches", key, url))


@file_watches.command("pause")
def file_watches_pause(workflow: str, key: Key, url: Url = None) -> None:
    """Set the workflow's ``trigger.pause_status`` to PAUSED (as Databricks' jobs/update
    does); files arriving meanwhile are seen, but start nothing."""
    print_json(_set_trigger_pause(workflow, "PAUSED", key, url))


@file_watches.command("unpause")
def file_watches_unpause(workflow: str, key: Key, url: Url = None) -> None:
    print_json(_set_trigger_pause(workflow, "UNPAUSED", key, url))


def _set_trigger_pause(workflow: str, status: str, key: Key, url: Url) -> Any:
    """A file watch's pause lives in its workflow definition, so that re-applying the
    definition (or the listener's sync) cannot silently undo it: the source is edited in
    place, in its own format, and put back; then the watch row is synced and shown."""
    detail = call_api("GET", f"/api/v1/workflows/{workflow}", key, url)
    source = detail.get("source") if isinstance(detail, dict) else None
    trigger = _file_arrival_trigger(source)
    if trigger is None:
        typer.echo(f"lockgate: workflow {workflow!r} has no file_arrival trigger", err=True)
        raise typer.Exit(1)
    if trigger.get("pause_status") != status:
        trigger["pause_status"] = status
        call_api("PUT", f"/api/v1/workflows/{workflow}", key, url, source)
    return call_api("PATCH", f"/api/v1/file-watches/{workflow}", key, url, {})


def _file_arrival_trigger(source: Any) -> dict[str, Any] | None:
    """The ``trigger`` block of a seed or Jobs document (also under ``settings``, the shape
    of a jobs/get answer), if it is a file-arrival trigger."""
    if not isinstance(source, dict):
        return None
    for holder in (source, source.get("settings")):
        trigger = holder.get("trigger") if isinstance(holder, dict) else None
        if isinstance(trigger, dict) and isinstance(trigger.get("file_arrival"), dict):
            return trigger
    return None


@expectations.command("list")
def expectations_list(key: Key, url: Url = None) -> None:
    print_json(call_api("GET", "/api/v1/expectations", key, url))


@expectations.command("create")
def expectations_create(
    name: str,
    deadline_cron: Annotated[
        str, typer.Option("--deadline", help='Quartz or Unix cron, e.g. "0 6 * * 1-5"')
    ],
    key: Key,
    timezone: Annotated[str, typer.Option(help="IANA or Java zone")] = "UTC",
    file_under: Annotated[
        str | None, typer.Option(help="expect a file under this location URL")
    ] = None,
    workflow_succeeded: Annotated[
        str | None, typer.Option(help="or: expect a successful run of this workflow")
    ] = None,
    alert_workflow: Annotated[
        str | None, typer.Option(help="whose alert routes hear a miss")
    ] = None,
    url: Url = None,
) -> None:
    """Expect a file (or a successful run) by each deadline; a miss is an alertable event."""
    body = {
        "name": name,
        "deadline_cron": deadline_cron,
        "timezone": timezone,
        "file_under": file_under,
        "workflow_succeeded": workflow_succeeded,
        "alert_workflow": alert_workflow,
    }
    print_json(call_api("POST", "/api/v1/expectations", key, url, body))


@expectations.command("delete")
def expectations_delete(name: str, key: Key, url: Url = None) -> None:
    call_api("DELETE", f"/api/v1/expectations/{name}", key, url)

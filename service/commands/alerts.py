"""Commands for alerting: channels, subscriptions, test alerts, redelivery.

They call the HTTP API (``--url``, default the configured API address; ``--key`` or
``LOCKGATE_API_KEY``), so the API's validation (the egress guard included) applies to
the CLI as it does to any other client.
"""

from __future__ import annotations

from typing import Annotated

import typer

from service.commands._api import Key, Url, call_api, print_json

channels = typer.Typer(help="Alert channels and their subscriptions.", no_args_is_help=True)
alerts = typer.Typer(help="Decided alerts: list, show, redeliver.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the `lockgate` app."""
    app.add_typer(channels, name="channels")
    app.add_typer(alerts, name="alerts")


@channels.command("create")
def create_channel(
    name: str,
    key: Key,
    description: Annotated[str | None, typer.Option()] = None,
    url: Url = None,
) -> None:
    """Create a named channel (e.g. etl-failures)."""
    print_json(
        call_api("POST", "/api/v1/channels", key, url, {"name": name, "description": description})
    )


@channels.command("list")
def list_channels(key: Key, url: Url = None) -> None:
    """List channels with their subscriptions."""
    print_json(call_api("GET", "/api/v1/channels", key, url))


@channels.command("subscribe")
def subscribe(
    channel: str,
    key: Key,
    email: Annotated[str | None, typer.Option(help="an email address")] = None,
    webhook: Annotated[str | None, typer.Option(help="a webhook URL")] = None,
    format: Annotated[str, typer.Option(help="generic, slack or teams")] = "generic",
    event: Annotated[
        list[str] | None, typer.Option("--event", help="an event type (repeatable)")
    ] = None,
    workflow: Annotated[
        list[str] | None, typer.Option("--workflow", help="a workflow name (repeatable)")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="KEY=VALUE a workflow must have")
    ] = None,
    job: Annotated[
        list[str] | None,
        typer.Option(
            "--job",
            help="a Databricks job id or name, also of jobs Lockgate did not start (repeatable)",
        ),
    ] = None,
    job_tag: Annotated[
        list[str] | None,
        typer.Option("--job-tag", help='KEY=VALUE a Databricks job must have ("*": any value)'),
    ] = None,
    url: Url = None,
) -> None:
    """Subscribe an email address or a webhook URL to a channel."""
    if (email is None) == (webhook is None):
        typer.echo("lockgate: give exactly one of --email and --webhook", err=True)
        raise typer.Exit(1)
    body = {
        "kind": "email" if email else "webhook",
        "target": email or webhook,
        "format": format if webhook else "generic",
        "event_types": event or [],
        "workflows": workflow or [],
        "workflow_tags": _tags("--tag", tag),
        "jobs": job or [],
        "job_tags": _tags("--job-tag", job_tag),
    }
    print_json(call_api("POST", f"/api/v1/channels/{channel}/subscriptions", key, url, body))


def _tags(option: str, items: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            typer.echo(f"lockgate: {option} {item!r} is not KEY=VALUE", err=True)
            raise typer.Exit(1)
        tags[name] = value
    return tags


@channels.command("unsubscribe")
def unsubscribe(channel: str, subscription_id: str, key: Key, url: Url = None) -> None:
    """Remove a subscription (its id is in `lockgate channels list`)."""
    call_api("DELETE", f"/api/v1/channels/{channel}/subscriptions/{subscription_id}", key, url)
    typer.echo(f"unsubscribed {subscription_id}")


@channels.command("delete")
def delete_channel(channel: str, key: Key, url: Url = None) -> None:
    """Delete a channel and its subscriptions."""
    call_api("DELETE", f"/api/v1/channels/{channel}", key, url)
    typer.echo(f"deleted {channel}")


@channels.command("test")
def test_alert(channel: str, key: Key, url: Url = None) -> None:
    """Send a test alert to every subscription of a channel."""
    print_json(call_api("POST", f"/api/v1/channels/{channel}/test", key, url))


@alerts.command("list")
def list_alerts(
    key: Key,
    status: Annotated[str | None, typer.Option(help="pending, delivered, dead, suppressed")] = None,
    url: Url = None,
) -> None:
    """Recent alerts, newest first."""
    query = f"?status={status}" if status else ""
    print_json(call_api("GET", f"/api/v1/alerts{query}", key, url))


@alerts.command("show")
def show_alert(alert_id: str, key: Key, url: Url = None) -> None:
    """One alert with its payload and delivery history."""
    print_json(call_api("GET", f"/api/v1/alerts/{alert_id}", key, url))


@alerts.command("redeliver")
def redeliver(alert_id: str, key: Key, url: Url = None) -> None:
    """Send a delivered or dead-lettered alert again, as it was decided."""
    print_json(call_api("POST", f"/api/v1/alerts/{alert_id}/redeliver", key, url))

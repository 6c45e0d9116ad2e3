"""Commands for alerting: channels, subscriptions, test alerts, redelivery.

They call the HTTP API (``--url``, default the configured API address; ``--key`` or
``LOCKGATE_API_KEY``), so the API's validation (the egress guard included) applies to
the CLI as it does to any other client.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

from service.settings import get_settings

channels = typer.Typer(help="Alert channels and their subscriptions.", no_args_is_help=True)
alerts = typer.Typer(help="Decided alerts: list, show, redeliver.", no_args_is_help=True)

Key = Annotated[str, typer.Option("--key", envvar="LOCKGATE_API_KEY", help="an API key")]
Url = Annotated[str | None, typer.Option("--url", help="API base URL")]


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the `lockgate` app."""
    app.add_typer(channels, name="channels")
    app.add_typer(alerts, name="alerts")


def _call(method: str, path: str, key: str, url: str | None, body: Any = None) -> Any:
    settings = get_settings()
    base = url or f"http://{settings.api_host}:{settings.api_port}"
    try:
        response = httpx.request(
            method,
            f"{base}{path}",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        typer.echo(f"lockgate: could not reach {base}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if response.status_code >= 400:
        try:
            problem = response.json()
            paths = "; ".join(f"{e['path']}: {e['message']}" for e in problem.get("errors", []))
            message = problem.get("detail") or problem.get("title") or response.text
            typer.echo(f"lockgate: {message}" + (f" ({paths})" if paths else ""), err=True)
        except ValueError:
            typer.echo(f"lockgate: {response.status_code} {response.text}", err=True)
        raise typer.Exit(1)
    return response.json() if response.content else None


def _print(value: Any) -> None:
    if value is not None:
        typer.echo(json.dumps(value, indent=2))


@channels.command("create")
def create_channel(
    name: str,
    key: Key,
    description: Annotated[str | None, typer.Option()] = None,
    url: Url = None,
) -> None:
    """Create a named channel (e.g. etl-failures)."""
    _print(_call("POST", "/api/v1/channels", key, url, {"name": name, "description": description}))


@channels.command("list")
def list_channels(key: Key, url: Url = None) -> None:
    """List channels with their subscriptions."""
    _print(_call("GET", "/api/v1/channels", key, url))


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
    url: Url = None,
) -> None:
    """Subscribe an email address or a webhook URL to a channel."""
    if (email is None) == (webhook is None):
        typer.echo("lockgate: give exactly one of --email and --webhook", err=True)
        raise typer.Exit(1)
    tags: dict[str, str] = {}
    for item in tag or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            typer.echo(f"lockgate: --tag {item!r} is not KEY=VALUE", err=True)
            raise typer.Exit(1)
        tags[name] = value
    body = {
        "kind": "email" if email else "webhook",
        "target": email or webhook,
        "format": format if webhook else "generic",
        "event_types": event or [],
        "workflows": workflow or [],
        "workflow_tags": tags,
    }
    _print(_call("POST", f"/api/v1/channels/{channel}/subscriptions", key, url, body))


@channels.command("unsubscribe")
def unsubscribe(channel: str, subscription_id: str, key: Key, url: Url = None) -> None:
    """Remove a subscription (its id is in `lockgate channels list`)."""
    _call("DELETE", f"/api/v1/channels/{channel}/subscriptions/{subscription_id}", key, url)
    typer.echo(f"unsubscribed {subscription_id}")


@channels.command("delete")
def delete_channel(channel: str, key: Key, url: Url = None) -> None:
    """Delete a channel and its subscriptions."""
    _call("DELETE", f"/api/v1/channels/{channel}", key, url)
    typer.echo(f"deleted {channel}")


@channels.command("test")
def test_alert(channel: str, key: Key, url: Url = None) -> None:
    """Send a test alert to every subscription of a channel."""
    _print(_call("POST", f"/api/v1/channels/{channel}/test", key, url))


@alerts.command("list")
def list_alerts(
    key: Key,
    status: Annotated[str | None, typer.Option(help="pending, delivered, dead, suppressed")] = None,
    url: Url = None,
) -> None:
    """Recent alerts, newest first."""
    query = f"?status={status}" if status else ""
    _print(_call("GET", f"/api/v1/alerts{query}", key, url))


@alerts.command("show")
def show_alert(alert_id: str, key: Key, url: Url = None) -> None:
    """One alert with its payload and delivery history."""
    _print(_call("GET", f"/api/v1/alerts/{alert_id}", key, url))


@alerts.command("redeliver")
def redeliver(alert_id: str, key: Key, url: Url = None) -> None:
    """Send a delivered or dead-lettered alert again, as it was decided."""
    _print(_call("POST", f"/api/v1/alerts/{alert_id}/redeliver", key, url))

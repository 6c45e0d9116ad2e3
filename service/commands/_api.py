"""Calling the Lockgate API from the CLI: shared options, one request function that turns
a problem+json answer into one line on stderr and exit code 1."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import typer

from service.settings import get_settings

Key = Annotated[
    str, typer.Option("--api-key", "--key", envvar="LOCKGATE_API_KEY", help="an API key")
]
Url = Annotated[str | None, typer.Option("--url", envvar="LOCKGATE_API_URL", help="API base URL")]


def call_api(method: str, path: str, key: str, url: str | None, body: Any = None) -> Any:
    settings = get_settings()
    base = (url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")
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


def print_json(value: Any) -> None:
    if value is not None:
        typer.echo(json.dumps(value, indent=2))

"""Commands for workflow definitions: validate (local, no API), apply (a plan first, then
the API's workflows routes), export.

``apply`` and ``export`` talk to the HTTP API (``--url`` / ``LOCKGATE_API_URL``, and
``--api-key`` / ``LOCKGATE_API_KEY``), so the API's own validation and access rules apply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import typer

from service.workflows import PlanStep, WorkflowInvalid, plan_apply, read_definitions

PathOption = Annotated[
    Path, typer.Option("-f", "--file", help="a workflow file, a bundle directory or a directory")
]
ApiUrl = Annotated[
    str, typer.Option("--url", envvar="LOCKGATE_API_URL", help="the Lockgate API base URL")
]
ApiKey = Annotated[
    str, typer.Option("--api-key", envvar="LOCKGATE_API_KEY", help="an API key (Bearer)")
]
DEFAULT_API_URL = "http://127.0.0.1:8080"
EXPORT_WARNINGS_HEADER = "Lockgate-Export-Warnings"  # set by the API's export route
_DONE = {"create": "created", "update": "updated", "delete": "deleted"}


class ApiFailed(Exception):
    """The API refused a call or could not be reached; the message is for people."""


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the `lockgate` app."""
    app.command("validate")(validate)
    app.command("apply")(apply)
    app.command("export")(export)


def validate(path: PathOption) -> None:
    """Check workflow files (any format) without the API; exit 1 listing every error."""
    failed = False
    for result in read_definitions(path):
        for error in result.errors:
            failed = True
            typer.echo(f"{result.path}: {error.path}: {error.message}", err=True)
        for definition in result.definitions:
            for warning in definition.warnings:
                typer.echo(f"{result.path}: warning: {warning.path}: {warning.message}")
            typer.echo(
                f"{result.path}: ok: {definition.name} ({definition.format}, "
                f"{len(definition.task_keys)} tasks)"
            )
    if failed:
        raise typer.Exit(1)


def apply(
    path: PathOption,
    api_key: ApiKey,
    url: ApiUrl = DEFAULT_API_URL,
    prune: Annotated[
        bool, typer.Option("--prune", help="delete workflows the files no longer define")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="apply without asking")] = False,
) -> None:
    """Show what would change (create / update with a diff / unchanged / delete), then
    make the API match the files."""
    results = read_definitions(path)
    errors = [(r.path, e) for r in results for e in r.errors]
    for file, error in errors:
        typer.echo(f"{file}: {error.path}: {error.message}", err=True)
    if errors:
        raise typer.Exit(1)
    local = [definition for result in results for definition in result.definitions]
    try:
        with _client(url, api_key) as client:
            steps = plan_apply(local, _remote_sources(client), prune=prune)
            _print_plan(steps)
            changes = [step for step in steps if step.action not in ("unchanged", "keep")]
            if not changes:
                typer.echo("nothing to change")
                return
            if not yes and not typer.confirm(f"apply {len(changes)} change(s)?"):
                typer.echo("nothing applied", err=True)
                raise typer.Exit(1)
            for step in changes:
                _carry_out(client, step)
                typer.echo(f"{_DONE[step.action]} {step.name}")
    except ApiFailed as exc:
        typer.echo(f"lockgate: {exc}", err=True)
        raise typer.Exit(1) from exc
    except WorkflowInvalid as exc:  # the plan would close a trigger cycle: nothing applied
        for error in exc.errors:
            typer.echo(f"{error.path}: {error.message}", err=True)
        raise typer.Exit(1) from exc


def export(
    name: str,
    api_key: ApiKey,
    url: ApiUrl = DEFAULT_API_URL,
    format: Annotated[
        str, typer.Option("--format", help="json (Jobs 2.2) or yaml (a bundle)")
    ] = "json",
) -> None:
    """Print a workflow as Databricks Jobs 2.2 JSON or Asset Bundle YAML."""
    if format not in ("json", "yaml"):
        typer.echo("lockgate: --format is json or yaml", err=True)
        raise typer.Exit(1)
    try:
        with _client(url, api_key) as client:
            response = _call(client, "GET", f"/api/v1/workflows/{name}/export?format={format}")
    except ApiFailed as exc:
        typer.echo(f"lockgate: {exc}", err=True)
        raise typer.Exit(1) from exc
    for loss in _export_warnings(response):  # on stderr: stdout is the document
        typer.echo(f"warning: {loss['path']}: {loss['message']}", err=True)
    typer.echo(response.text, nl=False)


def _export_warnings(response: httpx.Response) -> list[dict[str, str]]:
    """What the export left out, from the API's ``Lockgate-Export-Warnings`` header."""
    raw = response.headers.get(EXPORT_WARNINGS_HEADER)
    if not raw:
        return []
    try:
        found = json.loads(raw)
    except ValueError:
        return [{"path": "$", "message": f"unreadable export warnings: {raw[:200]}"}]
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []


def _client(url: str, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def _remote_sources(client: httpx.Client) -> dict[str, dict[str, Any]]:
    sources: dict[str, dict[str, Any]] = {}
    after: str | None = None
    while True:
        params = {"limit": "500", **({"after": after} if after else {})}
        page = _call(client, "GET", "/api/v1/workflows", params=params).json()
        for item in page["items"]:
            detail = _call(client, "GET", f"/api/v1/workflows/{item['name']}").json()
            sources[item["name"]] = detail["source"]
        after = page.get("next_after")
        if not after:
            return sources


def _carry_out(client: httpx.Client, step: PlanStep) -> None:
    if step.action == "delete":
        _call(client, "DELETE", f"/api/v1/workflows/{step.name}")
        return
    assert step.definition is not None
    body = json.dumps(step.definition.source)
    headers = {"Content-Type": "application/json"}
    params = {"format": step.definition.format}
    if step.action == "create":
        _call(client, "POST", "/api/v1/workflows", content=body, headers=headers, params=params)
    else:
        _call(
            client,
            "PUT",
            f"/api/v1/workflows/{step.name}",
            content=body,
            headers=headers,
            params=params,
        )


def _print_plan(steps: list[PlanStep]) -> None:
    marks = {"create": "+", "update": "~", "unchanged": "=", "delete": "-", "keep": " "}
    for step in steps:
        note = " (not in these files; --prune deletes it)" if step.action == "keep" else ""
        typer.echo(f"{marks[step.action]} {step.action:<9} {step.name}{note}")
        if step.diff:
            for line in step.diff.splitlines():
                typer.echo(f"    {line}")


Method = Literal["GET", "POST", "PUT", "DELETE"]


def _call(client: httpx.Client, method: Method, path: str, **kwargs: Any) -> httpx.Response:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise ApiFailed(f"could not reach {client.base_url}: {exc}") from exc
    if response.status_code >= 400:
        raise ApiFailed(f"{method} {path}: {_problem_text(response)}")
    return response


def _problem_text(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    lines = [str(problem.get("detail") or problem.get("title") or response.status_code)]
    lines += [f"  {e['path']}: {e['message']}" for e in problem.get("errors", [])]
    return "\n".join(lines)

"""Commands for runs, over the HTTP API: `lockgate run WORKFLOW`, `lockgate runs
list|get|cancel|repair`. The API URL and key come from options or
LOCKGATE_API_URL / LOCKGATE_API_KEY."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import httpx
import typer

ApiUrl = Annotated[
    str, typer.Option("--url", envvar="LOCKGATE_API_URL", help="the Lockgate API base URL")
]
ApiKey = Annotated[str, typer.Option("--api-key", envvar="LOCKGATE_API_KEY", help="an API key")]
Json = Annotated[bool, typer.Option("--json", help="print the API's JSON")]

_ENDED = {"succeeded", "failed", "canceled", "skipped", "error"}
DEFAULT_URL = "http://127.0.0.1:8080"


class CommandFailed(Exception):
    """One line for stderr; the command exits 1."""


def _client(url: str, api_key: str) -> httpx.Client:
    return httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    )


def _call(client: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise CommandFailed(f"could not reach {client.base_url}: {exc}") from exc
    if response.status_code >= 400:
        try:
            problem = response.json()
            detail = problem.get("detail") or problem.get("title") or response.text
        except ValueError:
            detail = response.text
        raise CommandFailed(f"{response.status_code}: {detail}")
    return response.json()


def parse_params(values: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise CommandFailed(f"--param takes key=value, not {value!r}")
        params[key] = text
    return params


def start_and_watch(
    client: httpx.Client,
    workflow: str,
    params: dict[str, str],
    *,
    wait: bool,
    echo: Any = typer.echo,
    poll_seconds: float = 1.0,
    timeout_seconds: float | None = None,
) -> dict[str, Any]:
    """Starts a run; with ``wait`` prints each task's state as it changes until it ends."""
    started = _call(
        client, "POST", f"/api/v1/workflows/{workflow}/runs", json={"parameters": params}
    )
    event_id = started["event_id"]
    echo(f"event {event_id}")
    if not wait:
        return dict(started)
    deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
    shown: dict[str, str] = {}
    run: dict[str, Any] = {}
    while deadline is None or time.monotonic() < deadline:
        event = _call(client, "GET", f"/api/v1/events/{event_id}")
        if event.get("run_id"):
            run = _call(client, "GET", f"/api/v1/runs/{event['run_id']}")
            line = f"run {run['id']}: {run['status']} (attempt {run['attempt']})"
            if shown.get("") != line:
                echo(line)
                shown[""] = line
            for task in run.get("tasks", []):
                state = task.get("result_state") or task.get("life_cycle_state") or "PENDING"
                if shown.get(task["task_key"]) != state:
                    shown[task["task_key"]] = state
                    echo(f"  {task['task_key']}: {state}")
            if run["status"] in _ENDED:
                return run
        elif event.get("verdict") == "skipped":
            echo(f"skipped: {event.get('verdict_reason')}")
            return dict(event)
        time.sleep(poll_seconds)
    raise CommandFailed("gave up waiting for the run to end")


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the `lockgate` app."""
    runs_app = typer.Typer(help="List, inspect, cancel and repair runs.", no_args_is_help=True)
    app.add_typer(runs_app, name="runs")

    def fail(exc: CommandFailed) -> None:
        typer.echo(f"lockgate: {exc}", err=True)
        raise typer.Exit(1)

    @app.command("run")
    def run_workflow(
        workflow: str,
        param: Annotated[list[str] | None, typer.Option("--param", help="key=value")] = None,
        wait: Annotated[bool, typer.Option(help="follow the run to its end")] = False,
        url: ApiUrl = DEFAULT_URL,
        api_key: ApiKey = "",
    ) -> None:
        """Start a run of WORKFLOW; --wait shows live task progress and exits 1 unless it
        succeeds."""
        try:
            with _client(url, api_key) as client:
                result = start_and_watch(client, workflow, parse_params(param or []), wait=wait)
        except CommandFailed as exc:
            fail(exc)
        if wait and result.get("status") != "succeeded":
            raise typer.Exit(1)

    @runs_app.command("list")
    def list_runs(
        workflow: Annotated[str | None, typer.Option()] = None,
        status: Annotated[str | None, typer.Option()] = None,
        limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
        url: ApiUrl = DEFAULT_URL,
        api_key: ApiKey = "",
        as_json: Json = False,
    ) -> None:
        """Recent runs, newest first."""
        params = {"workflow": workflow, "status": status, "limit": limit}
        try:
            with _client(url, api_key) as client:
                page = _call(
                    client, "GET", "/api/v1/runs", params={k: v for k, v in params.items() if v}
                )
        except CommandFailed as exc:
            fail(exc)
        if as_json:
            typer.echo(json.dumps(page, indent=2))
            return
        for run in page["items"]:
            typer.echo(
                f"{run['id']}  {run['workflow'] or '-':20} {run['status']:10} "
                f"attempt {run['attempt']}  {run['requested_at']}"
            )

    @runs_app.command("get")
    def get_run(run_id: str, url: ApiUrl = DEFAULT_URL, api_key: ApiKey = "") -> None:
        """One run with its tasks and attempts (JSON)."""
        try:
            with _client(url, api_key) as client:
                typer.echo(json.dumps(_call(client, "GET", f"/api/v1/runs/{run_id}"), indent=2))
        except CommandFailed as exc:
            fail(exc)

    @runs_app.command("cancel")
    def cancel_run(run_id: str, url: ApiUrl = DEFAULT_URL, api_key: ApiKey = "") -> None:
        """Cancel a run (at Databricks if it got there)."""
        try:
            with _client(url, api_key) as client:
                result = _call(client, "POST", f"/api/v1/runs/{run_id}/cancel")
        except CommandFailed as exc:
            fail(exc)
        typer.echo(f"{run_id}: cancel {result['cancel']}")

    @runs_app.command("repair")
    def repair_run(
        run_id: str,
        task: Annotated[
            list[str] | None,
            typer.Option("--task", help="A task to run again (repeatable); default: the failed"),
        ] = None,
        url: ApiUrl = DEFAULT_URL,
        api_key: ApiKey = "",
    ) -> None:
        """Re-run a failed run's failed tasks (or those named) and their dependents."""
        try:
            with _client(url, api_key) as client:
                body = {"tasks": task} if task else None
                result = _call(client, "POST", f"/api/v1/runs/{run_id}/repair", json=body)
        except CommandFailed as exc:
            fail(exc)
        typer.echo(f"{run_id}: repair scheduled as attempt {result['attempt']}")

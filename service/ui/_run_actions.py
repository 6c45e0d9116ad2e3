"""What the run page's buttons do: cancel, repair, run again with edited parameters.

Each calls the API's own route function for the same action (``service.api.routes.runs``)
with the signed-in principal, after checking the scope the API would: the console is a
second door to the same rooms, never a second set of rules. A refusal there (a run that
already ended, parameters over Databricks' limits) comes back as the API's status and
words on an HTML page.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from service.api.problems import Problem
from service.api.routes import runs as runs_api
from service.store.models import Workflow
from service.store.repositories import runs as runs_repo
from service.triggers.definitions import workflow_triggers
from service.ui._errors import UiError
from service.ui._render import render, secure_headers
from service.ui._sessions import CheckedForm, SignedIn

router = APIRouter(prefix="/ui", include_in_schema=False)

MAX_PARAMETERS = 100


def _done(run_id: str, notice: str) -> Response:
    return secure_headers(RedirectResponse(f"/ui/runs/{run_id}?notice={notice}", status_code=303))


@router.post("/runs/{run_id}/cancel")
def cancel(request: Request, run_id: str, console: SignedIn, form: CheckedForm) -> Response:
    principal = console.require("trigger")
    with request.app.state.sessions() as session:
        try:
            result = runs_api.cancel_run(run_id, session, request.app.state.task_sender, principal)
        except Problem as exc:
            raise UiError.from_problem(exc) from exc
    return _done(run_id, "cancel-" + str(result["cancel"]))


@router.post("/runs/{run_id}/repair")
def repair(request: Request, run_id: str, console: SignedIn, form: CheckedForm) -> Response:
    principal = console.require("trigger")
    with request.app.state.sessions() as session:
        try:
            tasks = form.getlist("task") or None
            runs_api.repair_run(
                run_id,
                session,
                request.app.state.task_sender,
                principal,
                runs_api.RepairBody(tasks=tasks),
            )
        except Problem as exc:
            raise UiError.from_problem(exc) from exc
    return _done(run_id, "repair-requested")


def _rerun_context(request: Request, run_id: str) -> dict[str, Any]:
    with request.app.state.sessions() as session:
        run = runs_repo.get_run(session, run_id=run_id)
        if run is None:
            raise UiError(404, "Run not found", f"no run has id {run_id!r}")
        workflow = session.get(Workflow, run.workflow_id)
        if workflow is None:
            raise UiError(409, "Workflow deleted", "the run's workflow no longer exists")
        declared = workflow_triggers(workflow).parameters
        values = {**declared, **{str(k): str(v) for k, v in run.parameters.items()}}
        return {
            "run": run,
            "workflow": workflow,
            "parameters": sorted(values.items()),
            "declared": declared,
            "once": secrets.token_urlsafe(16),
        }


@router.get("/runs/{run_id}/rerun", name="ui_rerun")
def rerun_form(request: Request, run_id: str, console: SignedIn) -> Response:
    return render(request, "rerun.html", _rerun_context(request, run_id))


@router.post("/runs/{run_id}/rerun")
def rerun(request: Request, run_id: str, console: SignedIn, form: CheckedForm) -> Response:
    principal = console.require("trigger")
    names, values = form.getlist("name"), form.getlist("value")
    if len(names) != len(values) or len(names) > MAX_PARAMETERS:
        raise UiError(400, "Bad parameters", "send each parameter as a name and a value")
    parameters = {n.strip(): v for n, v in zip(names, values, strict=True) if n.strip()}
    context = _rerun_context(request, run_id)
    with request.app.state.sessions() as session:
        try:
            accepted = runs_api.start_run(
                context["workflow"].name,
                runs_api.ManualRun(parameters=parameters),
                session,
                request.app.state.task_sender,
                principal,
                # The form's one-time key: a double-clicked submit makes one run.
                idempotency_key=f"console:{form.get('once')[:100]}" if form.get("once") else None,
            )
        except Problem as exc:
            raise UiError.from_problem(exc) from exc
    event_id = _body(accepted)["event_id"]
    return secure_headers(
        RedirectResponse(f"/ui/events/{event_id}?notice=run-started", status_code=303)
    )


def _body(response: Response) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(bytes(response.body))
    return loaded

"""Workflows: each with its triggers and last runs; a workflow's page with its spec,
schedule pause/unpause and a run-now form; and the draft editor, whose validation
errors point at lines of the pasted text."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from service.api.problems import Problem
from service.api.routes import runs as runs_api
from service.api.routes import triggers as triggers_api
from service.runs.options import engine_options
from service.store.models import Run, Workflow
from service.store.models.triggers import FileWatch, Schedule
from service.store.repositories import file_watches as watches_repo
from service.store.repositories import schedules as schedules_repo
from service.store.repositories import workflows as workflows_repo
from service.triggers.definitions import CronSpec, PeriodicSpec, workflow_triggers
from service.ui._definitions import cached_definition
from service.ui._errors import UiError
from service.ui._queries import last_runs
from service.ui._render import render, secure_headers
from service.ui._sessions import CheckedForm, SignedIn
from service.ui._spec_lines import PointedIssue, point_issues
from service.workflows import WorkflowInvalid, load_document, parse_document

router = APIRouter(prefix="/ui", include_in_schema=False)

PAGE_SIZE = 100
STRIP_LENGTH = 12
DRAFT_FORMATS = ("seed", "jobs", "bundle")


@dataclass(frozen=True)
class WorkflowRow:
    workflow: Workflow
    schedule: Schedule | None
    watch: FileWatch | None
    hooks: list[str]
    upstreams: list[str]
    runs: list[Run]
    valid: bool
    # The definition's schedule, shown (and pausable) before the scheduler has synced a
    # row for it: pausing syncs it, as PATCH /api/v1/schedules/{workflow} does.
    declared_schedule: CronSpec | PeriodicSpec | None = None


def _upstreams(request: Request, workflow: Workflow) -> tuple[list[str], bool]:
    definition = cached_definition(request, workflow)
    if definition is None:
        return [], False
    completion = definition.job_completion
    if completion is None:
        return [], True
    return [
        f"{u.kind} {u.value}" if u.kind != "job_tag" else f"job_tag {u.tags}"
        for u in completion.upstreams
    ], True


def _rows(request: Request, session: Any, workflows: list[Workflow]) -> list[WorkflowRow]:
    schedules = {s.workflow_name: s for s in schedules_repo.list_schedules(session)}
    watches = {w.workflow_name: w for w in watches_repo.list_watches(session)}
    hooks: dict[str, list[str]] = {}
    for hook in workflows_repo.list_hooks(session):
        for target in hook.targets:
            hooks.setdefault(target, []).append(hook.name)
    recent = last_runs(session, workflow_ids=[w.id for w in workflows], per_workflow=STRIP_LENGTH)
    rows = []
    for workflow in workflows:
        upstreams, valid = _upstreams(request, workflow)
        rows.append(
            WorkflowRow(
                workflow=workflow,
                schedule=schedules.get(workflow.name),
                watch=watches.get(workflow.name),
                hooks=hooks.get(workflow.name, []),
                upstreams=upstreams,
                runs=recent.get(workflow.id, []),
                valid=valid,
                declared_schedule=(
                    workflow_triggers(workflow).schedule if workflow.name not in schedules else None
                ),
            )
        )
    return rows


@router.get("/workflows", name="ui_workflows")
def workflows_page(request: Request, console: SignedIn, after: str | None = None) -> Response:
    with request.app.state.sessions() as session:
        workflows = workflows_repo.list_workflows(session, after=after, limit=PAGE_SIZE + 1)
        page, more = workflows[:PAGE_SIZE], len(workflows) > PAGE_SIZE
        rows = _rows(request, session, page)
        return render(
            request, "workflows.html", {"rows": rows, "next_after": page[-1].name if more else None}
        )


def _workflow_or_404(session: Any, name: str) -> Workflow:
    workflow = workflows_repo.get_workflow_by_name(session, name=name)
    if workflow is None:
        raise UiError(404, "Workflow not found", f"no workflow is named {name!r}")
    return workflow


@router.get("/workflows/{name:path}", name="ui_workflow")
def workflow_page(
    request: Request, name: str, console: SignedIn, notice: str | None = None
) -> Response:
    with request.app.state.sessions() as session:
        workflow = _workflow_or_404(session, name)
        row = _rows(request, session, [workflow])[0]
        definition = cached_definition(request, workflow)
        declared = workflow_triggers(workflow).parameters
        return render(
            request,
            "workflow.html",
            {
                "row": row,
                "workflow": workflow,
                "definition": definition,
                "warnings": definition.warnings if definition else [],
                "spec_yaml": yaml.safe_dump(workflow.source, sort_keys=False, allow_unicode=True),
                "spec_json": json.dumps(workflow.source, indent=2, ensure_ascii=False),
                "parameters": sorted(declared.items()),
                "notice": notice,
                "once": secrets.token_urlsafe(16),
            },
        )


@router.post("/workflows/{name:path}/schedule")
def change_schedule(request: Request, name: str, console: SignedIn, form: CheckedForm) -> Response:
    principal = console.require("admin")
    paused = form.get("paused")
    if paused not in ("true", "false"):
        raise UiError(400, "Bad request", "paused: true or false")
    with request.app.state.sessions() as session:
        try:
            triggers_api.change_schedule(
                name, triggers_api.ScheduleChange(paused=paused == "true"), session, principal
            )
        except Problem as exc:
            raise UiError.from_problem(exc) from exc
    notice = "schedule-paused" if paused == "true" else "schedule-unpaused"
    return secure_headers(
        RedirectResponse(f"/ui/workflows/{name}?notice={notice}", status_code=303)
    )


@router.post("/workflows/{name:path}/run")
def run_now(request: Request, name: str, console: SignedIn, form: CheckedForm) -> Response:
    principal = console.require("trigger")
    names, values = form.getlist("name"), form.getlist("value")
    if len(names) != len(values):
        raise UiError(400, "Bad parameters", "send each parameter as a name and a value")
    parameters = {n.strip(): v for n, v in zip(names, values, strict=True) if n.strip()}
    with request.app.state.sessions() as session:
        try:
            response = runs_api.start_run(
                name,
                runs_api.ManualRun(parameters=parameters),
                session,
                request.app.state.task_sender,
                principal,
                idempotency_key=f"console:{form.get('once')[:100]}" if form.get("once") else None,
            )
        except Problem as exc:
            raise UiError.from_problem(exc) from exc
    event_id = json.loads(bytes(response.body))["event_id"]
    return secure_headers(
        RedirectResponse(f"/ui/events/{event_id}?notice=run-started", status_code=303)
    )


@dataclass(frozen=True)
class DraftResult:
    issues: list[PointedIssue]
    warnings: list[PointedIssue]
    names: list[str]

    @property
    def valid(self) -> bool:
        return not self.issues


def check_draft(text: str, input_format: str | None, settings: Any) -> DraftResult:
    """Validates a pasted definition exactly as POST /api/v1/workflows would (document,
    format, the run engine's ``lockgate`` block) and points each issue at its line."""
    try:
        document = load_document(text)
        definitions = parse_document(document, format=input_format)  # type: ignore[arg-type]
        for definition in definitions:
            engine_options(definition, settings)
    except WorkflowInvalid as exc:
        return DraftResult(point_issues(text, [(e.path, e.message) for e in exc.errors]), [], [])
    warnings = [(w.path, w.message) for d in definitions for w in d.warnings]
    return DraftResult([], point_issues(text, warnings), [d.name for d in definitions])


@router.get("/workflows-draft", name="ui_draft")
def draft_form(request: Request, console: SignedIn) -> Response:
    return render(
        request, "draft.html", {"spec": "", "format": "", "formats": DRAFT_FORMATS, "result": None}
    )


@router.post("/workflows-draft")
def draft_check(request: Request, console: SignedIn, form: CheckedForm) -> Response:
    spec = form.get("spec")
    chosen = form.get("format")
    if chosen and chosen not in DRAFT_FORMATS:
        raise UiError(400, "Unknown format", f"format: use one of {', '.join(DRAFT_FORMATS)}")
    result = check_draft(spec, chosen or None, request.app.state.settings)
    return render(
        request,
        "draft.html",
        {"spec": spec, "format": chosen, "formats": DRAFT_FORMATS, "result": result},
        status_code=200 if result.valid else 422,
    )

"""/api/v1/workflows: workflow definitions in any of the three formats (the seed
``workflow_config``, Databricks Jobs JSON, an Asset Bundle), as JSON or YAML, and their
export as Jobs 2.2 JSON or bundle YAML."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError

from service.api.deps import AdminAccess, ReadAccess, SessionDep
from service.api.problems import Problem
from service.databricks import DatabricksError
from service.runs.drift import settings_drift
from service.runs.options import engine_options
from service.runs.submission import expected_job_settings
from service.runs.workspaces import WorkspaceClients
from service.store.models import Workflow, utcnow
from service.store.repositories import workflows as workflows_repo
from service.triggers.completion_sync import sync_completion_trigger, trigger_cycles
from service.workflows import (
    WorkflowDefinition,
    WorkflowInvalid,
    export_text,
    export_warnings,
    load_document,
    parse_document,
    parse_workflow,
)

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])
# The export's losses, as a JSON array of {"path", "message"} (see export_workflow).
EXPORT_WARNINGS_HEADER = "Lockgate-Export-Warnings"

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
InputFormat = Literal["seed", "jobs", "bundle"]


async def _definitions_from_request(
    request: Request, input_format: InputFormat | None
) -> list[WorkflowDefinition]:
    raw = await request.body()
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise Problem(413, "Workflow too large", f"the limit is {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = load_document(raw, content_type=request.headers.get("content-type"))
        definitions = parse_document(document, format=input_format)
        for definition in definitions:
            # The run engine's `lockgate` block is checked now, not at the first run.
            engine_options(definition, request.app.state.settings)
        return definitions
    except WorkflowInvalid as exc:
        raise _invalid(exc) from exc


def _invalid(exc: WorkflowInvalid) -> Problem:
    errors = [{"path": e.path, "message": e.message} for e in exc.errors]
    detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5])
    return Problem(422, "Invalid workflow", detail, errors=errors)


def _refuse_trigger_cycles(session: SessionDep, definitions: list[WorkflowDefinition]) -> None:
    """Job-completion triggers must not start one another in a loop (nothing is written)."""
    cycles = trigger_cycles(session, definitions)
    if cycles:
        errors = [{"path": c.path, "message": c.message} for c in cycles]
        detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5])
        raise Problem(422, "Trigger cycle", detail, errors=errors)


def _sync_triggers(session: SessionDep, written: list[tuple[Workflow, WorkflowDefinition]]) -> None:
    now = utcnow()
    for workflow, definition in written:
        sync_completion_trigger(session, workflow=workflow, definition=definition, now=now)


def _summary(workflow: Workflow) -> dict[str, Any]:
    return {
        "name": workflow.name,
        "version": workflow.version,
        "databricks_job_id": workflow.databricks_job_id,
        "created_at": workflow.created_at.isoformat(),
        "updated_at": workflow.updated_at.isoformat(),
    }


def _detail(workflow: Workflow, definition: WorkflowDefinition) -> dict[str, Any]:
    return {
        **_summary(workflow),
        "format": definition.format,
        "source": workflow.source,
        "job_settings": definition.to_job_settings(),
        "workspace_files": dict(definition.workspace_files),
        "warnings": [{"path": w.path, "message": w.message} for w in definition.warnings],
    }


def _get_or_404(session: SessionDep, name: str) -> Workflow:
    workflow = workflows_repo.get_workflow_by_name(session, name=name)
    if workflow is None:
        raise Problem(404, "Workflow not found", f"no workflow is named {name!r}")
    return workflow


@router.post("", status_code=201)
async def create_workflow(
    request: Request,
    session: SessionDep,
    _: AdminAccess,
    format: InputFormat | None = None,
) -> dict[str, Any]:
    """One workflow, or every job of a bundle (all or none are created)."""
    definitions = await _definitions_from_request(request, format)
    for definition in definitions:
        if workflows_repo.get_workflow_by_name(session, name=definition.name) is not None:
            raise Problem(
                409,
                "Workflow exists",
                f"a workflow named {definition.name!r} exists; "
                f"PUT /api/v1/workflows/{definition.name} replaces it",
            )
    names = [definition.name for definition in definitions]
    if len(set(names)) != len(names):
        raise Problem(422, "Duplicate workflow names", "two jobs of the bundle have one name")
    _refuse_trigger_cycles(session, definitions)
    try:
        created = [
            (
                workflows_repo.create_workflow(
                    session, name=definition.name, source=definition.source
                ),
                definition,
            )
            for definition in definitions
        ]
        _sync_triggers(session, created)
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Problem(409, "Workflow exists", f"{names!r} was created concurrently") from exc
    if len(created) == 1:
        return _detail(*created[0])
    return {"items": [_detail(workflow, definition) for workflow, definition in created]}


@router.get("")
def list_workflows(
    session: SessionDep, _: ReadAccess, after: str | None = None, limit: int = 100
) -> dict[str, Any]:
    limit = max(1, min(limit, 500))
    workflows = workflows_repo.list_workflows(session, after=after, limit=limit)
    next_after = workflows[-1].name if len(workflows) == limit else None
    return {"items": [_summary(w) for w in workflows], "next_after": next_after}


@router.get("/{name}")
def get_workflow(name: str, session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    workflow = _get_or_404(session, name)
    try:
        definition = parse_workflow(workflow.source)
    except WorkflowInvalid as exc:  # stored before a validation rule was added
        return {**_summary(workflow), "source": workflow.source, "invalid": str(exc)}
    return _detail(workflow, definition)


@router.get("/{name}/drift")
def get_drift(name: str, request: Request, session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    """Whether the deployed Databricks job still says what Lockgate deployed."""
    workflow = _get_or_404(session, name)
    if workflow.databricks_job_id is None:
        raise Problem(409, "Not deployed", f"{name!r} has no Databricks job yet (it has not run)")
    settings = request.app.state.settings
    try:
        definition = parse_workflow(workflow.source)
        workspace = engine_options(definition, settings).workspace
    except WorkflowInvalid as exc:
        raise _invalid(exc) from exc
    expected = expected_job_settings(definition, workflow_id=workflow.id)
    clients = WorkspaceClients.from_settings(settings)
    try:
        client = clients.get(workspace)
        actual = client.get_job(workflow.databricks_job_id).get("settings", {})
        if clients.hints is not None:  # Lockgate's own destination is not the user's drift
            expected = clients.hints.expected_settings(client, workspace, expected)
    except DatabricksError as exc:
        raise Problem(502, "Databricks did not answer", str(exc)) from exc
    finally:
        clients.close()
    drift = settings_drift(expected, actual)
    return {
        "workflow": name,
        "databricks_job_id": workflow.databricks_job_id,
        "drifted": bool(drift),
        "differences": [
            {"path": d.path, "expected": d.expected, "actual": d.actual} for d in drift
        ],
    }


@router.get("/{name}/export")
def export_workflow(
    name: str,
    session: SessionDep,
    _: ReadAccess,
    format: Literal["json", "yaml"] = "json",
) -> Response:
    """Jobs 2.2 JSON (a jobs/create body) or a bundle YAML with the job; both import back
    to the same workflow. What the export leaves out (inline SQL text, webhook URLs, the
    ``lockgate`` block) is listed in the ``Lockgate-Export-Warnings`` header, a JSON array
    of {path, message}: the body stays a document Databricks reads as it is."""
    workflow = _get_or_404(session, name)
    try:
        definition = parse_workflow(workflow.source)
    except WorkflowInvalid as exc:
        raise Problem(
            409, "Stored workflow is invalid", f"fix it with PUT before exporting: {exc}"
        ) from exc
    media_type = "application/json" if format == "json" else "application/yaml"
    response = Response(export_text(definition, format), media_type=media_type)
    losses = [{"path": w.path, "message": w.message} for w in export_warnings(definition)]
    if losses:  # ASCII JSON: header values are Latin-1
        response.headers[EXPORT_WARNINGS_HEADER] = json.dumps(losses, separators=(",", ":"))
    return response


@router.put("/{name}")
async def replace_workflow(
    name: str,
    request: Request,
    response: Response,
    session: SessionDep,
    _: AdminAccess,
    format: InputFormat | None = None,
) -> dict[str, Any]:
    definitions = await _definitions_from_request(request, format)
    matching = [d for d in definitions if d.name == name]
    if not matching:
        named = ", ".join(repr(d.name) for d in definitions)
        raise Problem(
            422,
            "Name mismatch",
            f"the document names {named} but the URL names {name!r}",
            errors=[{"path": "$.name", "message": f"must be {name!r} to match the URL"}],
        )
    definition = matching[0]
    _refuse_trigger_cycles(session, [definition])
    workflow = workflows_repo.get_workflow_by_name(session, name=name)
    if workflow is None:
        workflow = workflows_repo.create_workflow(session, name=name, source=definition.source)
        response.status_code = 201
    else:
        workflows_repo.replace_workflow_source(session, workflow=workflow, source=definition.source)
    _sync_triggers(session, [(workflow, definition)])
    session.commit()
    return _detail(workflow, definition)


@router.delete("/{name}", status_code=204)
def delete_workflow(name: str, session: SessionDep, _: AdminAccess) -> Response:
    workflow = _get_or_404(session, name)
    for hook in workflows_repo.list_hooks(session):
        if hook.workflow_name == name:
            session.delete(hook)
    session.delete(workflow)
    session.commit()
    return Response(status_code=204)

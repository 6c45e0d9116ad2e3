"""/api/v1/workflows: workflow definitions in the seed format, as JSON or YAML."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError

from service.api.deps import ApiKeyDep, SessionDep
from service.api.problems import Problem
from service.store.models import Workflow
from service.store.repositories import workflows as workflows_repo
from service.workflows import WorkflowDefinition, WorkflowInvalid, load_document, parse_workflow

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"])

MAX_DOCUMENT_BYTES = 2 * 1024 * 1024


async def _definition_from_request(request: Request) -> WorkflowDefinition:
    raw = await request.body()
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise Problem(413, "Workflow too large", f"the limit is {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = load_document(raw, content_type=request.headers.get("content-type"))
        return parse_workflow(document)
    except WorkflowInvalid as exc:
        errors = [{"path": e.path, "message": e.message} for e in exc.errors]
        detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors[:5])
        raise Problem(422, "Invalid workflow", detail, errors=errors) from exc


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
        "source": workflow.source,
        "job_settings": definition.to_job_settings(),
        "warnings": [{"path": w.path, "message": w.message} for w in definition.warnings],
    }


def _get_or_404(session: SessionDep, name: str) -> Workflow:
    workflow = workflows_repo.get_workflow_by_name(session, name=name)
    if workflow is None:
        raise Problem(404, "Workflow not found", f"no workflow is named {name!r}")
    return workflow


@router.post("", status_code=201)
async def create_workflow(request: Request, session: SessionDep, _: ApiKeyDep) -> dict[str, Any]:
    definition = await _definition_from_request(request)
    if workflows_repo.get_workflow_by_name(session, name=definition.name) is not None:
        raise Problem(
            409,
            "Workflow exists",
            f"a workflow named {definition.name!r} exists; "
            f"PUT /api/v1/workflows/{definition.name} replaces it",
        )
    try:
        workflow = workflows_repo.create_workflow(
            session, name=definition.name, source=definition.source
        )
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Problem(
            409, "Workflow exists", f"{definition.name!r} was created concurrently"
        ) from exc
    return _detail(workflow, definition)


@router.get("")
def list_workflows(
    session: SessionDep, _: ApiKeyDep, after: str | None = None, limit: int = 100
) -> dict[str, Any]:
    limit = max(1, min(limit, 500))
    workflows = workflows_repo.list_workflows(session, after=after, limit=limit)
    next_after = workflows[-1].name if len(workflows) == limit else None
    return {"items": [_summary(w) for w in workflows], "next_after": next_after}


@router.get("/{name}")
def get_workflow(name: str, session: SessionDep, _: ApiKeyDep) -> dict[str, Any]:
    workflow = _get_or_404(session, name)
    try:
        definition = parse_workflow(workflow.source)
    except WorkflowInvalid as exc:  # stored before a validation rule was added
        return {**_summary(workflow), "source": workflow.source, "invalid": str(exc)}
    return _detail(workflow, definition)


@router.put("/{name}")
async def replace_workflow(
    name: str, request: Request, response: Response, session: SessionDep, _: ApiKeyDep
) -> dict[str, Any]:
    definition = await _definition_from_request(request)
    if definition.name != name:
        raise Problem(
            422,
            "Name mismatch",
            f"the document names {definition.name!r} but the URL names {name!r}",
            errors=[{"path": "$.name", "message": f"must be {name!r} to match the URL"}],
        )
    workflow = workflows_repo.get_workflow_by_name(session, name=name)
    if workflow is None:
        workflow = workflows_repo.create_workflow(session, name=name, source=definition.source)
        response.status_code = 201
    else:
        workflows_repo.replace_workflow_source(session, workflow=workflow, source=definition.source)
    session.commit()
    return _detail(workflow, definition)


@router.delete("/{name}", status_code=204)
def delete_workflow(name: str, session: SessionDep, _: ApiKeyDep) -> Response:
    workflow = _get_or_404(session, name)
    for hook in workflows_repo.list_hooks(session):
        if hook.workflow_name == name:
            session.delete(hook)
    session.delete(workflow)
    session.commit()
    return Response(status_code=204)

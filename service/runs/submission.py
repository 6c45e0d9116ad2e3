"""Run → Databricks run.

Invariants kept here:
- every run-now carries ``idempotency_token(run)``, derived from the run id and attempt,
  so a worker that dies after Databricks accepted the call and is retried gets the same
  Databricks run back, never a second one;
- jobs/create has no idempotency token, so before creating a job we look for one tagged
  with the workflow's id, and the binding is recorded with a conditional update: the
  worker that loses a creation race deletes its duplicate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.databricks import ApiError, DatabricksClient, is_retryable
from service.runs.finishing import finish_run
from service.store.models import Run, RunStatus, Workflow
from service.store.repositories import runs as runs_repo
from service.store.repositories import workflows as workflows_repo
from service.workflows import WorkflowInvalid, parse_workflow

log = logging.getLogger(__name__)

WORKFLOW_ID_TAG = "lockgate_workflow_id"


def idempotency_token(run: Run) -> str:
    return f"lockgate-{run.id}-{run.attempt}"


@dataclass(frozen=True)
class SubmissionPlan:
    run_id: str
    token: str
    workflow_id: str
    workflow_name: str
    workflow_version: int
    job_id: int | None
    synced_version: int | None
    job_settings: dict[str, Any]
    job_parameter_names: tuple[str, ...]
    parameters: dict[str, str]


@dataclass(frozen=True)
class SubmitOutcome:
    databricks_run_id: int | None = None
    alert_delivery_ids: tuple[str, ...] = ()


class SubmissionRejected(Exception):
    """Databricks (or the workflow itself) refused the run for a reason retrying won't fix."""


def submit_run(
    sessions: sessionmaker[Session], client: DatabricksClient, *, run_id: str
) -> SubmitOutcome:
    """Submits one run. A refused run ends in ``error`` and is alerted like a failure.

    Transient Databricks errors propagate so the task can retry; the run stays in
    ``submitting`` and the sweeper pushes it again if every retry is lost.
    """
    with sessions.begin() as session:
        if not runs_repo.claim_for_submission(session, run_id=run_id):
            return SubmitOutcome()
        plan = plan_submission(session, run_id=run_id)
    if plan is None:
        return _reject(sessions, run_id=run_id, message=None)
    try:
        job_id, databricks_run_id = send_to_databricks(sessions, client, plan)
    except (ApiError, SubmissionRejected) as exc:
        if isinstance(exc, ApiError) and is_retryable(exc):
            raise
        log.warning("run rejected: %s", exc, extra={"run_id": run_id})
        return _reject(sessions, run_id=run_id, message=str(exc))
    with sessions.begin() as session:
        runs_repo.record_submission(
            session, run_id=run_id, databricks_job_id=job_id, databricks_run_id=databricks_run_id
        )
    log.info("run submitted", extra={"run_id": run_id, "databricks_run_id": databricks_run_id})
    return SubmitOutcome(databricks_run_id=databricks_run_id)


def _reject(sessions: sessionmaker[Session], *, run_id: str, message: str | None) -> SubmitOutcome:
    """Ends a run that cannot be submitted (``message`` None: recorded by plan_submission)."""
    with sessions.begin() as session:
        if message is not None:
            runs_repo.record_submission_error(session, run_id=run_id, message=message)
        run = runs_repo.get_run(session, run_id=run_id, with_tasks=True)
        if run is None or run.status != RunStatus.ERROR:
            return SubmitOutcome()
        return SubmitOutcome(alert_delivery_ids=tuple(finish_run(session, run=run)))


def send_to_databricks(
    sessions: sessionmaker[Session], client: DatabricksClient, plan: SubmissionPlan
) -> tuple[int, int]:
    """Makes sure the workflow's job exists and is current, then starts it; returns
    (job id, run id). Safe to repeat: the run-now carries the plan's idempotency token."""
    job_id = _ensure_job(sessions, client, plan)
    return job_id, _run_now(client, plan, job_id)


def plan_submission(session: Session, *, run_id: str) -> SubmissionPlan | None:
    """Reads what a submission needs; None (with the run ended in error) if it can't be."""
    run = runs_repo.get_run(session, run_id=run_id)
    if run is None:
        return None
    workflow = session.get(Workflow, run.workflow_id)
    if workflow is None:
        runs_repo.record_submission_error(session, run_id=run_id, message="workflow was deleted")
        return None
    try:
        definition = parse_workflow(workflow.source)
    except WorkflowInvalid as exc:
        message = "; ".join(f"{e.path}: {e.message}" for e in exc.errors)
        runs_repo.record_submission_error(session, run_id=run_id, message=message)
        return None
    job_settings = definition.to_job_settings()
    job_settings.setdefault("tags", {})[WORKFLOW_ID_TAG] = workflow.id
    return SubmissionPlan(
        run_id=run.id,
        token=idempotency_token(run),
        workflow_id=workflow.id,
        workflow_name=workflow.name,
        workflow_version=workflow.version,
        job_id=workflow.databricks_job_id,
        synced_version=workflow.synced_version,
        job_settings=job_settings,
        job_parameter_names=definition.job_parameter_names,
        parameters={str(k): str(v) for k, v in run.parameters.items()},
    )


def _ensure_job(
    sessions: sessionmaker[Session], client: DatabricksClient, plan: SubmissionPlan
) -> int:
    if plan.job_id is not None:
        if plan.synced_version != plan.workflow_version:
            client.reset_job(plan.job_id, plan.job_settings)
            with sessions.begin() as session:
                workflows_repo.mark_job_synced(
                    session, workflow_id=plan.workflow_id, version=plan.workflow_version
                )
        return plan.job_id
    job_id = _find_tagged_job(client, plan)
    if job_id is None:
        job_id = client.create_job(plan.job_settings)
    else:
        client.reset_job(job_id, plan.job_settings)
    with sessions.begin() as session:
        won = workflows_repo.claim_job_binding(
            session, workflow_id=plan.workflow_id, job_id=job_id, version=plan.workflow_version
        )
    if won:
        return job_id
    with sessions.begin() as session:
        workflow = session.get(Workflow, plan.workflow_id)
        bound = workflow.databricks_job_id if workflow else None
    if bound is None:
        raise SubmissionRejected("workflow was deleted while its job was being created")
    if bound != job_id:
        client.delete_job(job_id)
    return bound


def _find_tagged_job(client: DatabricksClient, plan: SubmissionPlan) -> int | None:
    page_token: str | None = None
    while True:
        page = client.list_jobs(name=plan.workflow_name, page_token=page_token)
        for job in page.jobs:
            tags = job.get("settings", {}).get("tags") or {}
            if tags.get(WORKFLOW_ID_TAG) == plan.workflow_id:
                return int(job["job_id"])
        if not page.next_page_token:
            return None
        page_token = page.next_page_token


def _run_now(client: DatabricksClient, plan: SubmissionPlan, job_id: int) -> int:
    if plan.job_parameter_names:
        return client.run_now(
            job_id, idempotency_token=plan.token, job_parameters=plan.parameters or None
        )
    # Jobs without job-level parameters take the legacy per-task form, which overrides
    # notebook base_parameters key by key (Databricks refuses to mix the two forms).
    return client.run_now(
        job_id, idempotency_token=plan.token, notebook_params=plan.parameters or None
    )

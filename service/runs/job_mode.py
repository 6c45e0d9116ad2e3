"""Job mode: the workflow deployed as a Databricks job, started with run-now.

jobs/create has no idempotency token, so before creating a job we look for one tagged
with the workflow's id, and the binding is recorded with a conditional update: the
worker that loses a creation race deletes its duplicate (best effort; a leftover is
found again by its tag). A job deleted in the workspace is noticed through jobs/get,
where Databricks' "Job N does not exist" is a documented ResourceDoesNotExist.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from service.databricks import DatabricksClient, DatabricksError, InvalidParameterValue, NotFound
from service.store.models import Workflow
from service.store.repositories import workflows as workflows_repo

if TYPE_CHECKING:
    from service.runs.submission import SubmissionPlan

log = logging.getLogger(__name__)

WORKFLOW_ID_TAG = "lockgate_workflow_id"


class JobBindingLost(Exception):
    """The workflow was deleted while its job was being created."""


def job_is_gone(client: DatabricksClient, job_id: int) -> bool:
    """jobs/get is where Databricks' "Job N does not exist" is a documented
    ResourceDoesNotExist (see errors.py), so ask it rather than read the first error."""
    try:
        client.get_job(job_id)
    except NotFound:
        return True
    return False


def ensure_job(
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
    job_id = find_tagged_job(client, workflow_name=plan.workflow_name, workflow_id=plan.workflow_id)
    if job_id is not None:
        try:
            client.reset_job(job_id, plan.job_settings)
        except (InvalidParameterValue, NotFound):
            # A duplicate another worker made and has just deleted (see below).
            if not job_is_gone(client, job_id):
                raise
            job_id = None
    if job_id is None:
        job_id = client.create_job(plan.job_settings)
    with sessions.begin() as session:
        won = workflows_repo.claim_job_binding(
            session, workflow_id=plan.workflow_id, job_id=job_id, version=plan.workflow_version
        )
    if not won:
        with sessions.begin() as session:
            workflow = session.get(Workflow, plan.workflow_id)
            bound = workflow.databricks_job_id if workflow else None
        if bound is None:
            raise JobBindingLost("workflow was deleted while its job was being created")
        job_id = bound
    _delete_duplicates(client, plan, keep=job_id)
    return job_id


def _delete_duplicates(client: DatabricksClient, plan: SubmissionPlan, *, keep: int) -> None:
    """Other jobs tagged with this workflow: made by a racing worker, or by a create whose
    answer was lost (Databricks made the job; we never learnt its id). Best effort: one
    left now is deleted the next time a job is made or found for the workflow."""
    try:
        duplicates = [
            job_id
            for job_id in tagged_jobs(
                client, workflow_name=plan.workflow_name, workflow_id=plan.workflow_id
            )
            if job_id != keep
        ]
        for job_id in duplicates:
            client.delete_job(job_id)
    except DatabricksError as exc:
        log.warning("duplicate jobs of %s not deleted yet: %s", plan.workflow_name, exc)


def find_tagged_job(
    client: DatabricksClient, *, workflow_name: str, workflow_id: str
) -> int | None:
    return next(
        iter(tagged_jobs(client, workflow_name=workflow_name, workflow_id=workflow_id)), None
    )


def tagged_jobs(client: DatabricksClient, *, workflow_name: str, workflow_id: str) -> list[int]:
    """Every job in the workspace tagged with this workflow's id, oldest first."""
    found: list[int] = []
    page_token: str | None = None
    while True:
        page = client.list_jobs(name=workflow_name, page_token=page_token)
        for job in page.jobs:
            tags = job.get("settings", {}).get("tags") or {}
            if tags.get(WORKFLOW_ID_TAG) == workflow_id:
                found.append(int(job["job_id"]))
        if not page.next_page_token:
            return sorted(found)
        page_token = page.next_page_token


def run_now(client: DatabricksClient, plan: SubmissionPlan, job_id: int) -> int:
    if plan.job_parameter_names:
        return client.run_now(
            job_id, idempotency_token=plan.token, job_parameters=plan.parameters or None
        )
    # Jobs without job-level parameters take the legacy per-task form, which overrides
    # notebook base_parameters key by key (Databricks refuses to mix the two forms).
    return client.run_now(
        job_id, idempotency_token=plan.token, notebook_params=plan.parameters or None
    )

"""Run → Databricks run: a first submission, a resubmission, or a repair.

Invariants kept here:
- every run-now and runs/submit carries ``idempotency_token(run)``, derived from the
  run id and attempt, so a worker that dies after Databricks accepted the call and is
  retried gets the same Databricks run back, never a second one; a new attempt gets a
  new token, so a resubmission makes exactly one new run;
- a repair is sent with the ``latest_repair_id`` Lockgate recorded, and before sending
  the run's repair history is read: a repair made by a worker that died before
  recording it is adopted, not made again;
- the submission is recorded before the call (the run is claimed ``submitting``) and
  after it (``pending`` with the Databricks run id, and an attempt row);
- jobs/create has no idempotency token, so before creating a job we look for one tagged
  with the workflow's id, and the binding is recorded with a conditional update: the
  worker that loses a creation race deletes its duplicate. A job deleted in the
  workspace is noticed (jobs/get says it does not exist), unbound and made again.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.orm import Session, sessionmaker

from service.databricks import (
    ApiError,
    BudgetExhausted,
    CapacityExceeded,
    DatabricksClient,
    InvalidParameterValue,
    NotFound,
    TooManyRequests,
    is_retryable,
)
from service.databricks.profiles import UnknownWorkspaceProfile
from service.runs.finishing import finish_run
from service.runs.hints import with_hint_destination
from service.runs.job_mode import (
    WORKFLOW_ID_TAG,
    JobBindingLost,
    ensure_job,
    find_tagged_job,
    job_is_gone,
    run_now,
)
from service.runs.one_time import one_time_payload
from service.runs.options import engine_options
from service.runs.repairing import RunStillActive, repair_in_databricks
from service.runs.task_graph import task_graph
from service.runs.workspaces import WorkspaceClients
from service.settings import Settings, get_settings
from service.store.models import Run, RunStatus, Workflow, utcnow
from service.store.repositories import runs as runs_repo
from service.workflows import WorkflowDefinition, WorkflowInvalid, parse_workflow

log = logging.getLogger(__name__)

__all__ = [
    "WORKFLOW_ID_TAG",
    "SubmissionPlan",
    "SubmissionRejected",
    "SubmitOutcome",
    "find_tagged_job",
    "idempotency_token",
    "plan_submission",
    "send_to_databricks",
    "start_in_databricks",
    "submit_run",
]
# How long a run Databricks has no capacity for waits before it is tried again.
_CAPACITY_WAIT_SECONDS = 30.0
# ... and a run still rate-limited after the client's own retries (without Retry-After),
# or one the shared request budget could not afford in time.
_RATE_LIMIT_WAIT_SECONDS = 5.0
_TASK_SUCCESS = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES", "EXCLUDED"})


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
    attempt: int = 1
    mode: Literal["job", "one_time"] = "job"
    workspace: str = "default"
    timeout_seconds: float = 0.0
    # Repairs only: the run to repair, the repair id last recorded, the tasks to re-run.
    repair: bool = False
    databricks_run_id: int | None = None
    latest_repair_id: int | None = None
    rerun_tasks: tuple[str, ...] = ()
    cancel_requested: bool = False
    # Files the job's tasks read (inline SQL published as workspace files): (path, text).
    workspace_files: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SubmitOutcome:
    databricks_run_id: int | None = None
    alert_delivery_ids: tuple[str, ...] = ()
    parked_until: datetime | None = None


class SubmissionRejected(Exception):
    """Databricks (or the workflow itself) refused the run for a reason retrying won't fix."""


def submit_run(
    sessions: sessionmaker[Session],
    clients: WorkspaceClients | DatabricksClient,
    *,
    run_id: str,
    settings: Settings | None = None,
) -> SubmitOutcome:
    """Submits (or repairs) one run. A refused run ends in ``error`` and is alerted.

    Transient Databricks errors propagate so the task can retry; the run stays in
    ``submitting`` and the sweeper pushes it again if every retry is lost. A run
    Databricks has no capacity for, or that is still rate-limited or that the request
    budget cannot afford now, is parked (``next_attempt_at``, with the reason in
    ``state_message``) rather than failed.
    """
    if isinstance(clients, DatabricksClient):
        clients = WorkspaceClients.single(clients)
    with sessions.begin() as session:
        if not runs_repo.claim_for_submission(session, run_id=run_id):
            return SubmitOutcome()
        plan = plan_submission(session, run_id=run_id, settings=settings)
    if plan is None:
        return _reject(sessions, run_id=run_id, message=None)
    try:
        client = clients.get(plan.workspace)
        plan = _with_hints(clients, client, plan)
        if plan.repair:
            job_id, databricks_run_id, repair_id = repair_in_databricks(client, plan)
        else:
            job_id, databricks_run_id = start_in_databricks(sessions, client, plan)
            repair_id = None
    except (TooManyRequests, BudgetExhausted) as exc:
        return _park(sessions, run_id=run_id, exc=exc)
    except (
        ApiError,
        SubmissionRejected,
        JobBindingLost,
        RunStillActive,
        UnknownWorkspaceProfile,
        ValueError,
    ) as exc:
        if isinstance(exc, ApiError) and is_retryable(exc):
            raise
        log.warning("run rejected: %s", exc, extra={"run_id": run_id})
        return _reject(sessions, run_id=run_id, message=str(exc))
    deadline = (
        utcnow() + timedelta(seconds=plan.timeout_seconds) if plan.timeout_seconds > 0 else None
    )
    with sessions.begin() as session:
        recorded = runs_repo.record_submission(
            session,
            run_id=run_id,
            databricks_job_id=job_id,
            databricks_run_id=databricks_run_id,
            deadline_at=deadline,
            repair_id=repair_id,
        )
        if recorded:
            runs_repo.record_attempt_started(
                session,
                run_id=run_id,
                attempt=plan.attempt,
                kind="repair"
                if plan.repair
                else ("submit" if plan.mode == "one_time" else "run-now"),
                databricks_run_id=databricks_run_id,
                repair_id=repair_id,
            )
    if plan.cancel_requested:
        # Cancelled while the call was in flight: pass the cancel on now.
        clients.get(plan.workspace).cancel_run(databricks_run_id)
    log.info(
        "run submitted",
        extra={"run_id": run_id, "databricks_run_id": databricks_run_id, "attempt": plan.attempt},
    )
    return SubmitOutcome(databricks_run_id=databricks_run_id)


def _park(
    sessions: sessionmaker[Session], *, run_id: str, exc: TooManyRequests | BudgetExhausted
) -> SubmitOutcome:
    """Holds a run Databricks cannot take now, with the reason on the run, until the
    sweeper sends it again: at capacity (only runs ending cure that: not retried in
    the meantime), or rate-limited past the in-process retries (the workspace's budget
    is paused meanwhile, see `budget`)."""
    if isinstance(exc, CapacityExceeded):
        wait = exc.retry_after or _CAPACITY_WAIT_SECONDS
        reason = f"held: the workspace is at its run capacity ({exc})"
    elif isinstance(exc, BudgetExhausted):
        wait = exc.retry_after or _RATE_LIMIT_WAIT_SECONDS
        reason = f"held: the workspace's Jobs API request budget is spent ({exc})"
    else:
        wait = exc.retry_after or _RATE_LIMIT_WAIT_SECONDS
        reason = f"held: Databricks rate-limited the request ({exc})"
    until = utcnow() + timedelta(seconds=wait * (1 + 0.2 * random.random()))
    with sessions.begin() as session:
        runs_repo.park_submission(session, run_id=run_id, until=until, reason=reason)
    log.info("run parked until %s: %s", until.isoformat(), reason, extra={"run_id": run_id})
    return SubmitOutcome(parked_until=until)


def _with_hints(
    clients: WorkspaceClients, client: DatabricksClient, plan: SubmissionPlan
) -> SubmissionPlan:
    """The plan with Lockgate's notification destination on the run's ending events,
    when hints are on and the workspace has one (see `hints`)."""
    if clients.hints is None or plan.repair:
        return plan
    destination_id = clients.hints.resolve(client, plan.workspace)
    if destination_id is None:
        return plan
    return replace(plan, job_settings=with_hint_destination(plan.job_settings, destination_id))


def _reject(sessions: sessionmaker[Session], *, run_id: str, message: str | None) -> SubmitOutcome:
    """Ends a run that cannot be submitted (``message`` None: recorded by plan_submission)."""
    with sessions.begin() as session:
        if message is not None:
            runs_repo.record_submission_error(session, run_id=run_id, message=message)
        run = runs_repo.get_run(session, run_id=run_id, with_tasks=True)
        if run is None or run.status != RunStatus.ERROR:
            return SubmitOutcome()
        return SubmitOutcome(alert_delivery_ids=tuple(finish_run(session, run=run)))


def plan_submission(
    session: Session, *, run_id: str, settings: Settings | None = None
) -> SubmissionPlan | None:
    """Reads what a submission needs; None (with the run ended in error) if it can't be."""
    run = runs_repo.get_run(session, run_id=run_id, with_tasks=True)
    if run is None:
        return None
    workflow = session.get(Workflow, run.workflow_id)
    if workflow is None:
        runs_repo.record_submission_error(session, run_id=run_id, message="workflow was deleted")
        return None
    try:
        definition = parse_workflow(workflow.source)
        options = engine_options(definition, settings or get_settings())
    except WorkflowInvalid as exc:
        message = "; ".join(f"{e.path}: {e.message}" for e in exc.errors)
        runs_repo.record_submission_error(session, run_id=run_id, message=message)
        return None
    job_settings = expected_job_settings(definition, workflow_id=workflow.id)
    repair = run.retry_mode == "repair" and run.databricks_run_id is not None
    if not repair:
        # A repair reruns tasks of the graph already there; anything else runs this one.
        run.task_graph = task_graph(job_settings)
    if run.workspace != options.workspace and not repair:
        run.workspace = options.workspace
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
        attempt=run.attempt,
        mode=options.mode,
        # A repair goes to the workspace the run is in, whatever the workflow says now.
        workspace=run.workspace if repair else options.workspace,
        timeout_seconds=options.timeout_seconds,
        repair=repair,
        databricks_run_id=run.databricks_run_id if repair else None,
        latest_repair_id=run.latest_repair_id,
        rerun_tasks=tuple(run.repair_tasks)
        if run.repair_tasks
        else tuple(
            t.task_key for t in run.tasks if t.result_state and t.result_state not in _TASK_SUCCESS
        ),
        cancel_requested=run.cancel_requested_at is not None and run.cancel_reason == "user",
        workspace_files=tuple(sorted(definition.workspace_files.items())),
    )


def expected_job_settings(definition: WorkflowDefinition, *, workflow_id: str) -> dict[str, Any]:
    """The job settings Lockgate deploys for a workflow (and checks for drift)."""
    job_settings = _paused_triggers(definition.to_job_settings())
    job_settings.setdefault("tags", {})[WORKFLOW_ID_TAG] = workflow_id
    return job_settings


def _paused_triggers(job_settings: dict[str, Any]) -> dict[str, Any]:
    """Lockgate fires schedules and file arrivals itself (each fire is a ledger event), so
    the job synced to Databricks keeps them for reference but paused: otherwise Databricks
    would start a second run for the same fire or file."""
    for key in ("schedule", "trigger"):
        if isinstance(job_settings.get(key), dict):
            job_settings[key] = {**job_settings[key], "pause_status": "PAUSED"}
    file_arrival = (job_settings.get("trigger") or {}).get("file_arrival")
    if isinstance(file_arrival, dict):
        # Lockgate's own filters are not Databricks fields.
        job_settings["trigger"]["file_arrival"] = {
            k: v for k, v in file_arrival.items() if k not in _LOCKGATE_FILE_ARRIVAL_KEYS
        }
    return job_settings


_LOCKGATE_FILE_ARRIVAL_KEYS = frozenset({"suffix", "glob", "trigger_on_overwrite"})


# -- first submissions and resubmissions ---------------------------------------------------


def start_in_databricks(
    sessions: sessionmaker[Session], client: DatabricksClient, plan: SubmissionPlan
) -> tuple[int | None, int]:
    """Starts the plan's run in its mode; returns (job id, or None for a one-time run,
    run id). Safe to repeat: the call carries the plan's idempotency token."""
    publish_workspace_files(client, plan)
    if plan.mode == "one_time":
        payload = one_time_payload(plan.job_settings, plan.parameters)
        return None, client.submit_run(payload, idempotency_token=plan.token)
    return send_to_databricks(sessions, client, plan)


def publish_workspace_files(client: DatabricksClient, plan: SubmissionPlan) -> None:
    """Uploads the files the tasks read before the run can need them. Overwriting with
    the same text is idempotent, so a repeated submission may upload again safely."""
    for path, text in plan.workspace_files:
        client.import_workspace_file(path, text.encode())


def send_to_databricks(
    sessions: sessionmaker[Session], client: DatabricksClient, plan: SubmissionPlan
) -> tuple[int, int]:
    """Job mode: makes sure the workflow's job exists and is current, then starts it;
    returns (job id, run id). Safe to repeat: run-now carries the plan's token."""
    for _ in range(2):
        job_id: int | None = None
        try:
            job_id = ensure_job(sessions, client, plan)
            return job_id, run_now(client, plan, job_id)
        except (InvalidParameterValue, NotFound):
            suspect = job_id if job_id is not None else plan.job_id
            if suspect is None or not job_is_gone(client, suspect):
                raise
        log.warning(
            "job %s of workflow %s was deleted in the workspace; making it again",
            suspect,
            plan.workflow_name,
            extra={"run_id": plan.run_id},
        )
        with sessions.begin() as session:
            runs_repo.forget_job_binding(session, workflow_id=plan.workflow_id, job_id=suspect)
            workflow = session.get(Workflow, plan.workflow_id)
            # Another worker may have bound a new job meanwhile: use it if so.
            plan = replace(
                plan,
                job_id=workflow.databricks_job_id if workflow else None,
                synced_version=workflow.synced_version if workflow else None,
            )
    raise SubmissionRejected("the workflow's Databricks job was deleted again while re-made")

"""Stopping and repairing runs: Lockgate's own timeout, and cancel/repair on request.

A cancel is recorded before it is sent (``cancel_requested_at`` and why: ``timeout`` or
``user``), so a worker dying between the two loses nothing: a cancel still unanswered
after a while is sent again (runs/cancel is idempotent). The run ends when the poller
sees Databricks end it; a run cancelled for its timeout is then recorded TIMEDOUT.

A run that has not reached Databricks yet (queued, requested, waiting to retry) is
cancelled on the spot: there is nothing to stop there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from service.databricks import ApiError, DatabricksClient, TransportError
from service.runs.finishing import finish_run
from service.runs.workspaces import WorkspaceClients
from service.store.models import RunStatus, utcnow
from service.store.repositories import runs as runs_repo

log = logging.getLogger(__name__)

# A cancel Databricks has not acted on within this is sent again.
CANCEL_RESEND_AFTER = timedelta(seconds=30)

_NOT_YET_AT_DATABRICKS = (RunStatus.QUEUED, RunStatus.REQUESTED, RunStatus.RETRYING)
_REPAIRABLE = (RunStatus.FAILED, RunStatus.CANCELED)


def enforce_deadlines(
    sessions: sessionmaker[Session], clients: WorkspaceClients | DatabricksClient, *, now: datetime
) -> int:
    """Cancels runs past their deadline and re-sends unanswered cancels; returns how many
    cancel calls were made."""
    if isinstance(clients, DatabricksClient):
        clients = WorkspaceClients.single(clients)
    targets: list[tuple[str, str, int]] = []
    with sessions.begin() as session:
        for run in runs_repo.runs_past_deadline(session, now=now):
            if runs_repo.set_status(
                session,
                run_id=run.id,
                expected=RunStatus.ACTIVE,
                cancel_requested_at=now,
                cancel_reason="timeout",
            ):
                assert run.databricks_run_id is not None
                targets.append((run.id, run.workspace, run.databricks_run_id))
                log.info("run past its deadline; cancelling", extra={"run_id": run.id})
        for run in runs_repo.runs_with_pending_cancel(
            session, older_than=now - CANCEL_RESEND_AFTER
        ):
            assert run.databricks_run_id is not None
            targets.append((run.id, run.workspace, run.databricks_run_id))
    for run_id, workspace, databricks_run_id in targets:
        _send_cancel(clients.get(workspace), run_id, databricks_run_id)
    return len(targets)


def _send_cancel(client: DatabricksClient, run_id: str, databricks_run_id: int) -> None:
    try:
        client.cancel_run(databricks_run_id)
    except (ApiError, TransportError) as exc:
        # Recorded already; the resend after CANCEL_RESEND_AFTER tries again.
        log.warning("cancel not sent: %s", exc, extra={"run_id": run_id})


@dataclass(frozen=True)
class CancelOutcome:
    status: Literal["canceled", "requested", "already-ended", "missing"]
    alert_delivery_ids: tuple[str, ...] = ()


def request_cancel(session: Session, *, run_id: str, now: datetime | None = None) -> CancelOutcome:
    """Cancels a run on request. ``requested``: the caller sends CANCEL_RUN after commit."""
    now = now or utcnow()
    run = runs_repo.get_run(session, run_id=run_id, with_tasks=True)
    if run is None:
        return CancelOutcome("missing")
    if run.status in RunStatus.TERMINAL:
        return CancelOutcome("already-ended")
    if run.status in _NOT_YET_AT_DATABRICKS and runs_repo.set_status(
        session,
        run_id=run.id,
        expected=_NOT_YET_AT_DATABRICKS,
        status=RunStatus.CANCELED,
        result_state="CANCELED",
        state_message="cancelled on request before it reached Databricks",
        cancel_requested_at=now,
        cancel_reason="user",
        next_attempt_at=None,
        ended_at=now,
    ):
        session.refresh(run)
        return CancelOutcome("canceled", tuple(finish_run(session, run=run)))
    # Submitting or active: Databricks has (or is about to have) the run.
    runs_repo.set_status(
        session,
        run_id=run.id,
        expected=(RunStatus.SUBMITTING, *RunStatus.ACTIVE),
        cancel_requested_at=now,
        cancel_reason="user",
    )
    return CancelOutcome("requested")


def send_cancel(sessions: sessionmaker[Session], clients: WorkspaceClients, *, run_id: str) -> None:
    with sessions() as session:
        run = runs_repo.get_run(session, run_id=run_id)
        if run is None or run.databricks_run_id is None or run.status not in RunStatus.ACTIVE:
            return  # not at Databricks yet: the submitter passes the cancel on
        workspace, databricks_run_id = run.workspace, run.databricks_run_id
    _send_cancel(clients.get(workspace), run_id, databricks_run_id)


@dataclass(frozen=True)
class RepairRequest:
    accepted: bool
    reason: str | None = None
    unknown_tasks: tuple[str, ...] = ()  # named tasks the run does not have


def request_repair(
    session: Session,
    *,
    run_id: str,
    tasks: Sequence[str] | None = None,
    now: datetime | None = None,
) -> RepairRequest:
    """Schedules a repair of an ended run's failed tasks, or of ``tasks`` when given (and
    their dependents either way), as its next attempt; the caller sends SUBMIT_RUN after
    commit."""
    now = now or utcnow()
    run = runs_repo.get_run(session, run_id=run_id, with_tasks=bool(tasks))
    if run is None:
        return RepairRequest(False, "missing")
    unknown = sorted(set(tasks or ()) - {t.task_key for t in run.tasks}) if tasks else []
    if unknown:
        return RepairRequest(
            False, f"the run has no task {', '.join(map(repr, unknown))}", tuple(unknown)
        )
    if run.status not in _REPAIRABLE or run.databricks_run_id is None:
        return RepairRequest(
            False,
            f"a run in {run.status!r} cannot be repaired: only failed or cancelled runs that"
            " reached Databricks can",
        )
    accepted = runs_repo.set_status(
        session,
        run_id=run.id,
        expected=_REPAIRABLE,
        status=RunStatus.RETRYING,
        retry_mode="repair",
        next_attempt_at=now,
        attempt=run.attempt + 1,
        ended_at=None,
        deadline_at=None,
        cancel_requested_at=None,
        cancel_reason=None,
        repair_tasks=list(dict.fromkeys(tasks)) if tasks else None,
    )
    return RepairRequest(accepted, None if accepted else "the run changed meanwhile")

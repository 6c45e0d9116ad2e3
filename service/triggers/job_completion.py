"""Job-completion triggers: a workflow started when its upstream runs end.

``on_completion`` is handed every run that ends for good: a Lockgate workflow's run
(its final outcome, after Lockgate's retries; from ``service.runs.finishing``) or a
Databricks job's run (from the workspace watcher). It finds the triggers that list the
run's workflow or job among their upstreams (by workflow name; by job id, name or
tags, in the trigger's workspace), applies each one's outcome filter, updates its state
and fires what is ready (``service.triggers.completion_state`` decides). ``fire_due``
fires what ``min_time_between_triggers_seconds`` held back, at its time, with the
completions gathered by then.

A fire is a ledger event (source ``job_completion``, source name the downstream
workflow) whose parameters name the upstream runs it consumed, comma-separated in
upstream order: ``upstream_run_ids``, ``upstream_job_ids``, ``upstream_result_states``
and ``upstream_workflows`` (empty for a job upstream). Its dedupe key is made of the
consumed run ids, so a completion handed in twice fires once.

Invariants a reader must not break: a trigger's state is read and written only under
its row lock (``with_for_update``: several workers end runs at once), in the caller's
transaction, which also holds the ledger event; the caller commits, then announces
(``ledger.announce_all``). A job run of the downstream workflow's own job never
triggers it (a tag selector matching the job Lockgate deploys for it would loop).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from service.store.models import Run, RunStatus, Workflow
from service.store.models.completion import CompletionTrigger, CompletionUpstream
from service.store.repositories import workflows as workflows_repo
from service.triggers.completion_state import counts, held_until, is_ready
from service.triggers.ledger import AcceptedTrigger, record_trigger
from service.workflows.completion import OWN_JOB_TAG, Upstream, status_matches, upstream_from_json
from service.workspace.ended_runs import JobInfo

log = logging.getLogger(__name__)

SOURCE = "job_completion"
_MAX_DEDUPE_KEY = 200
_DUE_BATCH = 100
# Lockgate's terminal run status -> the Databricks result it stands for, when the run
# has none of its own (never submitted, skipped in the queue).
_STATUS_RESULTS = {
    RunStatus.SUCCEEDED: "SUCCESS",
    RunStatus.FAILED: "FAILED",
    RunStatus.CANCELED: "CANCELED",
    RunStatus.SKIPPED: "SKIPPED",
    RunStatus.ERROR: "FAILED",
}


@dataclass(frozen=True)
class Completion:
    run_id: str  # Databricks run id (job upstream) or Lockgate run id (workflow upstream)
    result_state: str  # SUCCESS, SUCCESS_WITH_FAILURES, FAILED, CANCELED, TIMEDOUT, ...
    ended_at: datetime
    workflow_name: str | None = None  # set: a Lockgate workflow's run ended (final outcome)
    job: JobInfo | None = None  # set: a Databricks job's run ended
    workspace: str = "default"


def workflow_run_completion(run: Run, *, workflow_name: str, now: datetime) -> Completion:
    """A Lockgate run's final outcome as a completion of its workflow."""
    result = run.result_state
    if not result or (run.status == RunStatus.SUCCEEDED) != status_matches("SUCCESS", result):
        result = _STATUS_RESULTS.get(run.status, "FAILED")
    return Completion(
        run_id=run.id,
        result_state=result,
        ended_at=run.ended_at or now,
        workflow_name=workflow_name,
        workspace=run.workspace,
    )


def on_workflow_run_ended(session: Session, *, run: Run, now: datetime) -> list[AcceptedTrigger]:
    """``on_completion`` for a Lockgate run that ended for good (not one that retries)."""
    if run.status not in RunStatus.TERMINAL:
        return []
    workflow = session.get(Workflow, run.workflow_id)
    if workflow is None:
        return []
    completion = workflow_run_completion(run, workflow_name=workflow.name, now=now)
    return on_completion(session, completion, now=now)


def on_completion(
    session: Session, completion: Completion, *, now: datetime
) -> list[AcceptedTrigger]:
    """Counts one ended run for every trigger that lists it; returns the fires (the
    caller commits, then announces them)."""
    accepted: list[AcceptedTrigger] = []
    record: dict[str, Any] | None = None
    for row in _matching_triggers(session, completion):
        if row.paused or not status_matches(row.if_status, completion.result_state):
            continue
        if completion.job is not None and _is_own_job(session, row, completion.job):
            continue
        upstreams = _upstreams(row)
        matched = [u for u in upstreams if _selects(u, completion, row.workspace)]
        if not matched:
            continue
        record = record or _record(session, completion)
        pending = dict(row.pending or {})
        consumed = row.consumed or {}
        counted = False
        for upstream in matched:
            if counts(
                record, pending=pending.get(upstream.key), consumed=consumed.get(upstream.key)
            ):
                pending[upstream.key] = record
                counted = True
        if not counted:
            continue
        row.pending = pending
        row.updated_at = now
        fired = _fire_if_ready(session, row, upstreams, now)
        if fired is not None:
            accepted.append(fired)
    return accepted


def fire_due(session: Session, *, now: datetime) -> list[AcceptedTrigger]:
    """Fires the triggers ``min_time_between_triggers_seconds`` held back, now due."""
    rows = session.scalars(
        select(CompletionTrigger)
        .where(CompletionTrigger.due_at <= now, CompletionTrigger.paused.is_(False))
        .order_by(CompletionTrigger.due_at, CompletionTrigger.id)
        .limit(_DUE_BATCH)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).all()
    accepted: list[AcceptedTrigger] = []
    for row in rows:
        fired = _fire_if_ready(session, row, _upstreams(row), now)
        if fired is not None:
            accepted.append(fired)
    return accepted


def _matching_triggers(session: Session, completion: Completion) -> Sequence[CompletionTrigger]:
    """The triggers with an upstream that may select this run, locked, in id order (so
    two workers lock the same triggers in the same order)."""
    conditions: list[ColumnElement[bool]] = []
    if completion.workflow_name is not None:
        conditions.append(_lookup("workflow", completion.workflow_name))
    if completion.job is not None:
        conditions.append(_lookup("job_id", str(completion.job.job_id)))
        conditions.append(_lookup("job_name", completion.job.name))
        conditions.append(CompletionUpstream.kind == "job_tag")
    if not conditions:
        return []
    candidates = select(CompletionUpstream.trigger_id).where(or_(*conditions))
    return session.scalars(
        select(CompletionTrigger)
        .where(CompletionTrigger.id.in_(candidates))
        .order_by(CompletionTrigger.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()


def _lookup(kind: str, value: str) -> ColumnElement[bool]:
    return and_(CompletionUpstream.kind == kind, CompletionUpstream.value == value)


def _upstreams(row: CompletionTrigger) -> list[Upstream]:
    return [upstream_from_json(selector) for selector in row.upstreams]


def _selects(upstream: Upstream, completion: Completion, workspace: str) -> bool:
    if upstream.kind == "workflow":
        return completion.workflow_name == upstream.value
    job = completion.job
    if job is None or completion.workspace != workspace:
        return False
    if upstream.kind == "job_id":
        return job.job_id == upstream.value
    if upstream.kind == "job_name":
        return job.name == upstream.value
    return all(
        name in job.tags and (wanted == "*" or job.tags[name] == wanted)
        for name, wanted in upstream.tags.items()
    )


def _is_own_job(session: Session, row: CompletionTrigger, job: JobInfo) -> bool:
    if job.tags.get(OWN_JOB_TAG) == row.workflow_name:
        return True
    workflow = session.get(Workflow, row.workflow_id)
    return workflow is not None and workflow.databricks_job_id == job.job_id


def _record(session: Session, completion: Completion) -> dict[str, Any]:
    """What state keeps of a completion and a fire passes on."""
    job_id: int | None = completion.job.job_id if completion.job is not None else None
    if job_id is None and completion.workflow_name is not None:
        upstream = workflows_repo.get_workflow_by_name(session, name=completion.workflow_name)
        job_id = upstream.databricks_job_id if upstream is not None else None
    return {
        "run_id": completion.run_id,
        "job_id": "" if job_id is None else str(job_id),
        "result_state": completion.result_state,
        "ended_at": completion.ended_at.isoformat(),
        "workflow_name": completion.workflow_name,
        "job_name": completion.job.name if completion.job is not None else None,
        "workspace": completion.workspace,
    }


def _fire_if_ready(
    session: Session, row: CompletionTrigger, upstreams: Sequence[Upstream], now: datetime
) -> AcceptedTrigger | None:
    keys = [upstream.key for upstream in upstreams]
    pending = row.pending or {}
    if not is_ready(row.condition, keys, pending):
        row.due_at = None
        return None
    hold = held_until(row.last_fired_at, row.min_time_between_triggers_seconds, now)
    if hold is not None:
        row.due_at = hold
        log.info(
            "job-completion trigger of %s held until %s",
            row.workflow_name,
            hold.isoformat(),
            extra={"workflow": row.workflow_name},
        )
        return None
    fired = [(key, pending[key]) for key in keys if key in pending]
    run_ids = [str(record["run_id"]) for _, record in fired]
    accepted = record_trigger(
        session,
        source=SOURCE,
        source_name=row.workflow_name,
        dedupe_key=_dedupe_key(run_ids),
        workflow_id=row.workflow_id,
        payload={
            "condition": row.condition,
            "if_status": row.if_status,
            "upstreams": [{"upstream": key, **record} for key, record in fired],
        },
        parameters={
            "upstream_run_ids": ",".join(run_ids),
            "upstream_job_ids": ",".join(str(r["job_id"]) for _, r in fired),
            "upstream_result_states": ",".join(str(r["result_state"]) for _, r in fired),
            "upstream_workflows": ",".join(str(r["workflow_name"] or "") for _, r in fired),
        },
    )
    row.consumed = {
        **(row.consumed or {}),
        **{key: {"run_id": r["run_id"], "ended_at": r["ended_at"]} for key, r in fired},
    }
    row.pending = {key: value for key, value in pending.items() if key not in keys}
    row.last_fired_at = now
    row.due_at = None
    row.updated_at = now
    log.info(
        "job-completion trigger of %s fired",
        row.workflow_name,
        extra={"event_id": accepted.event_id, "upstream_run_ids": run_ids},
    )
    return accepted


def _dedupe_key(run_ids: Sequence[str]) -> str:
    joined = "runs:" + ",".join(run_ids)
    if len(joined) <= _MAX_DEDUPE_KEY:
        return joined
    return "runs-sha256:" + hashlib.sha256(",".join(run_ids).encode()).hexdigest()

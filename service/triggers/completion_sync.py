"""Keeping ``completion_triggers`` rows in step with workflow definitions.

Synced when a workflow is written (the API's create and replace, in the transaction
that writes it), so a trigger is live from the moment its definition is: there is one
source of truth, the definition, and no window in which an upstream's end is missed
because a sync loop has not run yet. A workflow deleted takes its row with it (the
foreign key cascades).

Runtime state survives a change that keeps what the trigger means: pending completions
of upstreams still listed are kept (those of upstreams removed are dropped); a new
outcome filter or workspace, or a pause, drops them all (they were gathered under other
rules). The last fire time always stays, so ``min_time_between_triggers_seconds`` holds
across edits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from service.store.models import Workflow
from service.store.models.completion import CompletionTrigger, CompletionUpstream
from service.triggers.completion_state import held_until, is_ready
from service.workflows import WorkflowDefinition, WorkflowInvalid, parse_workflow
from service.workflows.completion import JobCompletionSpec, Upstream
from service.workflows.trigger_cycles import TriggerCycle, find_trigger_cycles


def sync_completion_trigger(
    session: Session,
    *,
    workflow: Workflow,
    now: datetime,
    definition: WorkflowDefinition | None = None,
) -> CompletionTrigger | None:
    """Brings the workflow's row up to date (``definition``: already parsed from its
    source); returns it, or None when the workflow has no job-completion trigger."""
    spec = _spec(workflow, definition)
    row = session.scalars(
        select(CompletionTrigger).where(CompletionTrigger.workflow_id == workflow.id)
    ).first()
    if spec is None:
        if row is not None:
            session.delete(row)
            session.flush()
        return None
    if row is None:
        row = CompletionTrigger(workflow_id=workflow.id, pending={}, consumed={}, upstreams=[])
        session.add(row)
    keys = [upstream.key for upstream in spec.upstreams]
    rules_changed = (row.if_status, row.workspace) != (spec.if_status, spec.workspace)
    if rules_changed or spec.paused:
        row.pending = {}
    else:
        row.pending = {key: value for key, value in (row.pending or {}).items() if key in keys}
    row.consumed = {key: value for key, value in (row.consumed or {}).items() if key in keys}
    selectors = [upstream.as_json() for upstream in spec.upstreams]
    upstreams_changed = row.upstreams != selectors
    row.workflow_name = workflow.name
    row.workflow_version = workflow.version
    row.if_status = spec.if_status
    row.condition = spec.condition
    row.min_time_between_triggers_seconds = spec.min_time_between_triggers_seconds
    row.workspace = spec.workspace
    row.upstreams = selectors
    row.paused = spec.paused
    row.due_at = _due_at(row, keys, now)
    row.updated_at = now
    session.flush()
    if upstreams_changed:
        _write_lookup(session, row, spec.upstreams)
    return row


def stored_workflow_upstreams(session: Session) -> dict[str, list[str]]:
    """Each stored workflow's ``workflow:`` upstreams, by name (the trigger edges)."""
    edges: dict[str, list[str]] = {}
    rows = session.execute(
        select(CompletionTrigger.workflow_name, CompletionUpstream.value)
        .join(CompletionUpstream, CompletionUpstream.trigger_id == CompletionTrigger.id)
        .where(CompletionUpstream.kind == "workflow")
    )
    for downstream, upstream in rows:
        edges.setdefault(downstream, []).append(upstream)
    return edges


# pg_advisory_xact_lock's key for writes that add workflow upstreams ("LGcycle" in ASCII).
CYCLE_CHECK_LOCK = 0x4C476379636C65


def trigger_cycles(
    session: Session, definitions: Sequence[WorkflowDefinition]
) -> list[TriggerCycle]:
    """The trigger cycles writing ``definitions`` would close among stored workflows.

    Call it in the transaction that then writes them: on PostgreSQL a write that adds
    workflow upstreams first waits for any other such write to commit, since two applies
    each checked against the other's old edges could together close a cycle neither saw.
    (SQLite's write transactions are serial already: BEGIN IMMEDIATE.)"""
    adds_edges = any(d.job_completion and d.job_completion.workflow_upstreams for d in definitions)
    if adds_edges and session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CYCLE_CHECK_LOCK})
    return find_trigger_cycles(stored_workflow_upstreams(session), definitions)


def _spec(workflow: Workflow, definition: WorkflowDefinition | None) -> JobCompletionSpec | None:
    if definition is None:
        try:
            definition = parse_workflow(workflow.source)
        except WorkflowInvalid:
            return None  # an invalid definition asks for nothing
    return definition.job_completion


def _due_at(row: CompletionTrigger, keys: Sequence[str], now: datetime) -> datetime | None:
    """A fire held back stays held until the (maybe new) minimum time after the last
    fire; one that is ready now (a condition loosened to ANY, a shorter minimum) is due
    now and the next sweep fires it."""
    if row.paused or not is_ready(row.condition, keys, row.pending):
        return None
    return held_until(row.last_fired_at, row.min_time_between_triggers_seconds, now) or now


def _write_lookup(session: Session, row: CompletionTrigger, upstreams: Sequence[Upstream]) -> None:
    session.execute(delete(CompletionUpstream).where(CompletionUpstream.trigger_id == row.id))
    session.add_all(
        CompletionUpstream(
            trigger_id=row.id,
            position=position,
            kind=upstream.kind,
            value="" if upstream.kind == "job_tag" else str(upstream.value),
        )
        for position, upstream in enumerate(upstreams)
    )
    session.flush()

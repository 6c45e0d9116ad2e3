"""The runs list (filtered, keyset-paged, live) and the run page (task graph, timeline,
tasks, attempts, trigger, alerts)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.store.models import Run, RunStatus, TaskRun, TriggerEvent, Workflow, utcnow
from service.store.repositories import alerts as alerts_repo
from service.store.repositories import runs as runs_repo
from service.ui import _dag, _gantt
from service.ui._definitions import cached_definition
from service.ui._errors import UiError
from service.ui._queries import RunFilter, decode_cursor, run_page
from service.ui._render import render
from service.ui._sessions import SignedIn

router = APIRouter(prefix="/ui", include_in_schema=False)

RUN_STATES = (
    RunStatus.REQUESTED,
    RunStatus.QUEUED,
    RunStatus.SUBMITTING,
    RunStatus.PENDING,
    RunStatus.RUNNING,
    RunStatus.RETRYING,
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.CANCELED,
    RunStatus.SKIPPED,
    RunStatus.ERROR,
)
TRIGGER_SOURCES = ("webhook", "schedule", "file_arrival", "manual", "replay", "job_completion")
PAGE_SIZE = 50


def parse_moment(text: str | None, field: str) -> datetime | None:
    """A time from a filter (``datetime-local`` sends no zone: read as UTC)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UiError(
            400, "Bad time", f"{field}: {text!r} is not a date and time (YYYY-MM-DDTHH:MM)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_filter(
    workflow: str | None,
    status: str | None,
    source: str | None,
    since: str | None,
    until: str | None,
) -> RunFilter:
    if status and status not in RUN_STATES:
        raise UiError(400, "Unknown state", f"status: use one of {', '.join(RUN_STATES)}")
    if source and source not in TRIGGER_SOURCES:
        raise UiError(
            400, "Unknown trigger source", f"source: use one of {', '.join(TRIGGER_SOURCES)}"
        )
    return RunFilter(
        workflow=workflow.strip() or None if workflow else None,
        status=status or None,
        source=source or None,
        since=parse_moment(since, "since"),
        until=parse_moment(until, "until"),
    )


@router.get("/runs", name="ui_runs")
def runs_page(
    request: Request,
    console: SignedIn,
    workflow: str | None = None,
    status: str | None = None,
    source: str | None = None,
    since: str | None = None,
    until: str | None = None,
    before: str | None = None,
    after: str | None = None,
    fragment: bool = False,
) -> Response:
    where = run_filter(workflow, status, source, since, until)
    with request.app.state.sessions() as session:
        page = run_page(
            session,
            where=where,
            before=decode_cursor(before, field="before") if before else None,
            after=decode_cursor(after, field="after") if after else None,
            limit=PAGE_SIZE,
        )
        names = list(session.scalars(select(Workflow.name).order_by(Workflow.name).limit(500)))
    context: dict[str, Any] = {
        "page": page,
        "where": where,
        "filters": where.query_params(),
        "first_page": before is None and after is None,
        "raw": {"since": since or "", "until": until or ""},
        "states": RUN_STATES,
        "sources": TRIGGER_SOURCES,
        "workflow_names": names,
        "version": runs_fingerprint(request) if not fragment else "",
    }
    return render(request, "runs_live.html" if fragment else "runs.html", context)


def task_state(task: TaskRun | None) -> str:
    """A task's state as one word: its result when it has ended, else its life cycle."""
    if task is None:
        return "NOT STARTED"
    return task.result_state or task.life_cycle_state or "PENDING"


def graph_tasks(request: Request, workflow: Workflow | None, run: Run) -> list[_dag.TaskNode]:
    """The run's task graph: the one it was submitted with (or, for a run from before
    runs kept theirs, the workflow's current one), plus any task the run reported that
    the graph does not name."""
    nodes: list[_dag.TaskNode] = []
    if run.task_graph is not None:
        nodes = _dag.tasks_from_settings({"tasks": run.task_graph})
    elif workflow is not None and (definition := cached_definition(request, workflow)):
        nodes = _dag.tasks_from_settings(definition.to_job_settings())
    named = {n.key for n in nodes}
    nodes += [_dag.TaskNode(t.task_key) for t in run.tasks if t.task_key not in named]
    return nodes


def _bars(run: Run, attempts: list[Any]) -> list[_gantt.Bar]:
    bars = [
        _gantt.Bar(
            label=f"attempt {a.attempt} ({a.kind})",
            state=a.result_state or a.life_cycle_state or ("ENDED" if a.ended_at else "RUNNING"),
            start=a.started_at,
            end=a.ended_at,
            kind="attempt",
        )
        for a in attempts
    ]
    tasks = sorted((t for t in run.tasks if t.started_at), key=lambda t: (t.started_at, t.task_key))
    for task in tasks:
        assert task.started_at is not None
        end = task.ended_at
        if end is None and task.result_state and task.duration_ms is not None:
            end = task.started_at + timedelta(milliseconds=task.duration_ms)
        bars.append(
            _gantt.Bar(
                label=f"{task.task_key} #{task.attempt_number}",
                state=task_state(task),
                start=task.started_at,
                end=end,
                kind="task",
            )
        )
    return bars


def run_context(request: Request, session: Session, run_id: str) -> dict[str, Any]:
    run = runs_repo.get_run(session, run_id=run_id, with_tasks=True)
    if run is None:
        raise UiError(404, "Run not found", f"no run has id {run_id!r}")
    workflow = session.get(Workflow, run.workflow_id)
    event = session.get(TriggerEvent, run.trigger_event_id)
    attempts = runs_repo.list_attempts(session, run_id=run.id)
    alerts = alerts_repo.list_deliveries(session, run_id=run.id)
    tasks_by_key = {t.task_key: t for t in run.tasks}
    nodes = graph_tasks(request, workflow, run)
    states = {n.key: task_state(tasks_by_key.get(n.key)) for n in nodes}
    now = utcnow()
    failed_tasks = [
        t.task_key
        for t in run.tasks
        if t.result_state and t.result_state not in ("SUCCESS", "SUCCESS_WITH_FAILURES", "EXCLUDED")
    ]
    return {
        "run": run,
        "workflow": workflow,
        "event": event,
        "attempts": attempts,
        "alerts": alerts,
        "nodes": nodes,
        "tasks_by_key": tasks_by_key,
        "states": states,
        "dag_svg": _dag.render_svg(nodes, states),
        "gantt_svg": _gantt.render_svg(_bars(run, attempts), now=now),
        "failed_tasks": failed_tasks,
        "can_cancel": run.status not in RunStatus.TERMINAL,
        "can_repair": run.status in (RunStatus.FAILED, RunStatus.CANCELED)
        and run.databricks_run_id is not None,
        "edge_count": sum(len(n.depends_on) for n in nodes),
    }


@router.get("/runs/{run_id}", name="ui_run")
def run_page_view(
    request: Request,
    run_id: str,
    console: SignedIn,
    fragment: bool = False,
    notice: str | None = None,
) -> Response:
    # Read before the page's own session: a second session inside it would wait on the
    # first (SQLite transactions here begin IMMEDIATE).
    version = "" if fragment else run_fingerprint(request, run_id)
    with request.app.state.sessions() as session:
        context = run_context(request, session, run_id)
        context["notice"] = notice
        context["version"] = version
        return render(request, "run_live.html" if fragment else "run.html", context)


def run_fingerprint(request: Request, run_id: str) -> str:
    """For the run page's stream: the run's state and every task's state, hashed."""
    with request.app.state.sessions() as session:
        head = session.execute(
            select(Run.status, Run.updated_at, Run.attempt, Run.ended_at).where(Run.id == run_id)
        ).one_or_none()
        tasks = session.execute(
            select(
                TaskRun.task_key,
                TaskRun.life_cycle_state,
                TaskRun.result_state,
                TaskRun.attempt_number,
            )
            .where(TaskRun.run_id == run_id)
            .order_by(TaskRun.task_key)
        ).all()
    facts = repr((tuple(head) if head else None, [tuple(t) for t in tasks]))
    return hashlib.sha256(facts.encode()).hexdigest()[:16]


def runs_fingerprint(request: Request) -> str:
    """For the runs list's stream: a run added or changed moves the newest
    ``updated_at`` (an indexed column: one index probe, whatever the table's size)."""
    with request.app.state.sessions() as session:
        newest = session.scalar(select(func.max(Run.updated_at)))
    return newest.isoformat() if newest else "-"

"""The polling sweep: one pass over every active run, within the API budget.

Databricks rate-limits its Jobs API per workspace, so state comes from list pages: one
``runs/list?active_only=true&expand_tasks=true`` page gives 25 runs with their tasks.
Runs that left the active set are read back the same way, 25 at a time
(``completed_only``, in the window of start times those runs have), so a burst of
endings costs a few pages, not one call per run. ``runs/get`` is only the fallback for
runs no page showed, and ``get-output`` is called only for failed tasks, to say what
went wrong. Every request spends from the workspace's shared budget (the client does).

When the active listing is cut short (``max_pages``), a run it did not reach is not
taken for ended: only a complete listing proves a run left the active set.

Each workspace profile is swept on its own (a run is listed by the workspace it runs
in). Unchanged runs cost no write; changed ones are written in one transaction; each
ending gets its own transaction, where the retry policy and alerts run
(`ending.conclude_attempt`). Deadlines and cancels are enforced after the pass
(`control.enforce_deadlines`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.alerts import duration_limit
from service.databricks import DatabricksClient, NotFound, RunInfo, TaskRunInfo
from service.policies.alerting import duration_exceeded
from service.runs.control import enforce_deadlines
from service.runs.ending import conclude_attempt
from service.runs.finishing import emit_run_event
from service.runs.options import EngineOptions
from service.runs.states import FAILED_TASK_RESULTS, is_terminal, run_status
from service.runs.workspaces import WorkspaceClients
from service.settings import Settings, get_settings
from service.store.models import Run, RunStatus, TaskRun, utcnow
from service.store.repositories import runs as runs_repo
from service.store.repositories.runs import workflow_sources

log = logging.getLogger(__name__)

# A run may show in a completed_only page a moment after it leaves the active set, and
# start times are Databricks' clock: read a little wider than the known start times.
_COMPLETED_SLACK = timedelta(minutes=2)
_MAX_RUNS_GET_PER_SWEEP = 25
_PAGE_SIZE = 25


@dataclass
class PollReport:
    watched: int = 0
    updated: int = 0
    api_calls: int = 0
    ended_run_ids: list[str] = field(default_factory=list)
    alert_delivery_ids: list[str] = field(default_factory=list)
    submit_run_ids: list[str] = field(default_factory=list)
    cancel_calls: int = 0


@dataclass(frozen=True)
class _Watched:
    run_id: str
    known_start: datetime | None


def poll_active_runs(
    sessions: sessionmaker[Session],
    clients: WorkspaceClients | DatabricksClient,
    *,
    max_pages: int,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> PollReport:
    settings = settings or get_settings()
    if isinstance(clients, DatabricksClient):
        clients = WorkspaceClients.single(clients)
    report = PollReport()
    by_workspace: dict[str, dict[int, _Watched]] = defaultdict(dict)
    with sessions() as session:
        for run_id, databricks_run_id, submitted_at, started_at, workspace in _watched(session):
            by_workspace[workspace][databricks_run_id] = _Watched(
                run_id, started_at or submitted_at
            )
    for workspace, watched in by_workspace.items():
        report.watched += len(watched)
        _sweep_workspace(sessions, clients.get(workspace), watched, report, max_pages, settings)
    report.cancel_calls = enforce_deadlines(sessions, clients, now=now or utcnow())
    log.info(
        "poll sweep: %d watched, %d updated, %d ended, %d api calls",
        report.watched,
        report.updated,
        len(report.ended_run_ids),
        report.api_calls,
    )
    return report


def _watched(session: Session) -> list[tuple[str, int, datetime | None, datetime | None, str]]:
    return runs_repo.watched_runs(session)


def _sweep_workspace(
    sessions: sessionmaker[Session],
    client: DatabricksClient,
    watched: dict[int, _Watched],
    report: PollReport,
    max_pages: int,
    settings: Settings,
) -> None:
    found: dict[int, RunInfo] = {}
    complete = _read_pages(client, report, found, watched, max_pages, active_only=True)
    missing = set(watched) - set(found) if complete else set()
    if missing:
        starts = [watched[r].known_start for r in missing]
        earliest = min((s for s in starts if s), default=utcnow())
        _read_pages(
            client,
            report,
            found,
            watched,
            max_pages,
            completed_only=True,
            start_time_from=int((earliest - _COMPLETED_SLACK).timestamp() * 1000),
            stop_when_found=missing,
        )
    for databricks_run_id in sorted(missing - set(found))[:_MAX_RUNS_GET_PER_SWEEP]:
        report.api_calls += 1
        try:
            found[databricks_run_id] = client.get_run(databricks_run_id)
        except NotFound:
            log.warning(
                "Databricks no longer knows run %s",
                databricks_run_id,
                extra={"run_id": watched[databricks_run_id].run_id},
            )

    ongoing = {
        d: info for d, info in found.items() if not is_terminal(_value(info.life_cycle_state))
    }
    ended = {d: info for d, info in found.items() if d not in ongoing}
    if ongoing:
        with sessions.begin() as session:
            runs = runs_repo.runs_by_ids(
                session, run_ids=[watched[d].run_id for d in ongoing], with_tasks=True
            )
            by_id = {run.id: run for run in runs}
            sources = workflow_sources(session, workflow_ids={r.workflow_id for r in runs})
            now = utcnow()
            for databricks_run_id, info in ongoing.items():
                run = by_id.get(watched[databricks_run_id].run_id)
                if run is None or run.status not in RunStatus.ACTIVE:
                    continue
                if _apply(run, info, {}):
                    report.updated += 1
                report.alert_delivery_ids += _duration_warning(
                    session, run, sources.get(run.workflow_id), now, settings
                )
    options_cache: dict[str, EngineOptions | None] = {}
    for databricks_run_id, info in ended.items():
        errors = _failed_task_errors(client, report, info)
        with sessions.begin() as session:
            run = runs_repo.get_run(
                session, run_id=watched[databricks_run_id].run_id, with_tasks=True
            )
            if run is None or run.status not in RunStatus.ACTIVE:
                continue
            _apply(run, info, errors)
            report.updated += 1
            session.flush()
            concluded = conclude_attempt(
                session,
                run=run,
                termination_code=info.termination_code,
                settings=settings,
                now=utcnow(),
                options_cache=options_cache,
            )
            if not concluded.retrying:
                report.ended_run_ids.append(run.id)
            report.alert_delivery_ids += concluded.alert_delivery_ids
            report.submit_run_ids += concluded.submit_run_ids


def _duration_warning(
    session: Session,
    run: Run,
    source: Mapping[str, Any] | None,
    now: datetime,
    settings: Settings,
) -> list[str]:
    """A run past its health rule (RUN_DURATION_SECONDS) warns its subscribers while it
    is still running; emitting is idempotent per attempt, so every sweep may ask."""
    limit = duration_limit(source) if source is not None else None
    elapsed = duration_exceeded(started_at=run.started_at, limit_seconds=limit, now=now)
    if elapsed is None:
        return []
    return emit_run_event(
        session,
        run=run,
        event_type="run.duration_warning",
        detail={"limit_seconds": limit, "elapsed_seconds": round(elapsed)},
        settings=settings,
    )


def _read_pages(
    client: DatabricksClient,
    report: PollReport,
    found: dict[int, RunInfo],
    watched: dict[int, _Watched],
    max_pages: int,
    *,
    active_only: bool = False,
    completed_only: bool = False,
    start_time_from: int | None = None,
    stop_when_found: set[int] | None = None,
) -> bool:
    """Reads list pages into ``found``; True when the listing was read to its end."""
    page_token: str | None = None
    for _ in range(max_pages):
        page = client.list_runs(
            active_only=active_only,
            completed_only=completed_only,
            expand_tasks=True,
            limit=_PAGE_SIZE,
            page_token=page_token,
            start_time_from=start_time_from,
        )
        report.api_calls += 1
        for info in page.runs:
            if info.run_id in watched:
                found[info.run_id] = info
        if stop_when_found is not None and stop_when_found <= set(found):
            return True
        if not page.next_page_token:
            return True
        page_token = page.next_page_token
    return False


def _failed_task_errors(
    client: DatabricksClient, report: PollReport, info: RunInfo
) -> dict[str, str]:
    errors: dict[str, str] = {}
    for task in _latest_attempts(info.tasks).values():
        if _value(task.result_state) in FAILED_TASK_RESULTS:
            report.api_calls += 1
            try:
                output = client.get_run_output(task.run_id)
            except NotFound:
                errors[task.task_key] = task.state_message or ""
                continue
            errors[task.task_key] = output.error or task.state_message or ""
    return errors


def _latest_attempts(tasks: tuple[TaskRunInfo, ...]) -> dict[str, TaskRunInfo]:
    # A retried task is listed once per attempt; its latest attempt is its state.
    latest: dict[str, TaskRunInfo] = {}
    for task in tasks:
        known = latest.get(task.task_key)
        if known is None or task.attempt_number >= known.attempt_number:
            latest[task.task_key] = task
    return latest


def _apply(run: Run, info: RunInfo, errors: dict[str, str]) -> bool:
    life_cycle = _value(info.life_cycle_state)
    result = _value(info.result_state)
    status = run_status(life_cycle, result)
    changed = (run.life_cycle_state, run.result_state, run.status) != (life_cycle, result, status)
    run.life_cycle_state = life_cycle
    run.result_state = result
    if info.state_message or changed:
        run.state_message = info.state_message or None
    run.run_page_url = info.run_page_url or run.run_page_url
    run.started_at = _from_ms(info.start_time_ms) or run.started_at
    if status in RunStatus.TERMINAL:
        run.ended_at = _from_ms(info.end_time_ms) or utcnow()
    run.status = status
    for task in _latest_attempts(info.tasks).values():
        start, end = task.start_time_ms, task.end_time_ms
        values: dict[str, object] = {
            "databricks_run_id": task.run_id,
            "attempt_number": task.attempt_number,
            "life_cycle_state": _value(task.life_cycle_state),
            "result_state": _value(task.result_state),
            "state_message": task.state_message or None,
            "started_at": _from_ms(start),
            "ended_at": _from_ms(end),
            "duration_ms": end - start if start and end else None,
            "termination_code": task.termination_code,
        }
        if task.task_key in errors:
            values["error"] = errors[task.task_key]
        stored = _upsert_task(run, task.task_key, values)
        changed = changed or stored
    if changed:
        run.updated_at = utcnow()
    return changed


def _upsert_task(run: Run, task_key: str, values: dict[str, object]) -> bool:
    """Sets the task's fields; True when any of them changed."""
    for task in run.tasks:
        if task.task_key == task_key:
            changed = False
            for name, value in values.items():
                if getattr(task, name) != value:
                    setattr(task, name, value)
                    changed = True
            return changed
    run.tasks.append(TaskRun(task_key=task_key, **values))
    return True


def _value(state: object) -> str | None:
    if state is None:
        return None
    return str(getattr(state, "value", state))


def _from_ms(ms: int | None) -> datetime | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)

"""The polling sweep: one pass over every active run, within an API budget.

Databricks rate-limits ``runs/get``, so state comes from list pages: one
``runs/list?active_only=true&expand_tasks=true`` page gives 25 runs with their tasks.
Runs that left the active set are read back the same way, 25 at a time
(``completed_only`` from the oldest submission on), so a burst of endings costs a few
pages, not one call per run. ``runs/get`` is only the fallback for runs no page showed,
and ``get-output`` is called only for failed tasks, to say what went wrong.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from service.databricks import DatabricksClient, RunInfo, TaskRunInfo
from service.runs.finishing import finish_run
from service.runs.states import FAILED_TASK_RESULTS, is_terminal, run_status
from service.store.models import Run, RunStatus, utcnow
from service.store.repositories import runs as runs_repo

log = logging.getLogger(__name__)

# A run may take a moment to appear in a completed_only page after it leaves the active
# set; read a little further back than the oldest submission.
_COMPLETED_LOOKBACK = timedelta(minutes=5)
_MAX_RUNS_GET_PER_SWEEP = 25


@dataclass
class PollReport:
    watched: int = 0
    updated: int = 0
    api_calls: int = 0
    ended_run_ids: list[str] = field(default_factory=list)
    alert_delivery_ids: list[str] = field(default_factory=list)


def poll_active_runs(
    sessions: sessionmaker[Session], client: DatabricksClient, *, max_pages: int
) -> PollReport:
    report = PollReport()
    with sessions() as session:
        watched = {
            int(run.databricks_run_id): run.id
            for run in runs_repo.active_runs(session)
            if run.databricks_run_id is not None
        }
        oldest = min(
            (r.submitted_at for r in runs_repo.active_runs(session) if r.submitted_at),
            default=None,
        )
    report.watched = len(watched)
    if not watched:
        return report

    found: dict[int, RunInfo] = {}
    _read_pages(client, report, found, watched, max_pages, active_only=True)
    missing = set(watched) - set(found)
    if missing:
        since = (oldest or utcnow()) - _COMPLETED_LOOKBACK
        _read_pages(
            client,
            report,
            found,
            watched,
            max_pages,
            completed_only=True,
            start_time_from=int(since.timestamp() * 1000),
            stop_when_found=missing,
        )
    for databricks_run_id in sorted(set(watched) - set(found))[:_MAX_RUNS_GET_PER_SWEEP]:
        report.api_calls += 1
        found[databricks_run_id] = client.get_run(databricks_run_id)

    for databricks_run_id, info in found.items():
        errors = (
            _failed_task_errors(client, report, info) if is_terminal(info.life_cycle_state) else {}
        )
        with sessions.begin() as session:
            run = runs_repo.get_run(session, run_id=watched[databricks_run_id], with_tasks=True)
            if run is None or run.status not in RunStatus.ACTIVE:
                continue
            if _apply(session, run, info, errors):
                report.updated += 1
            if run.status in RunStatus.TERMINAL:
                report.ended_run_ids.append(run.id)
                report.alert_delivery_ids.extend(finish_run(session, run=run))
    log.info(
        "poll sweep: %d watched, %d updated, %d ended, %d api calls",
        report.watched,
        report.updated,
        len(report.ended_run_ids),
        report.api_calls,
    )
    return report


def _read_pages(
    client: DatabricksClient,
    report: PollReport,
    found: dict[int, RunInfo],
    watched: dict[int, str],
    max_pages: int,
    *,
    active_only: bool = False,
    completed_only: bool = False,
    start_time_from: int | None = None,
    stop_when_found: set[int] | None = None,
) -> None:
    page_token: str | None = None
    for _ in range(max_pages):
        page = client.list_runs(
            active_only=active_only,
            completed_only=completed_only,
            expand_tasks=True,
            limit=25,
            page_token=page_token,
            start_time_from=start_time_from,
        )
        report.api_calls += 1
        for info in page.runs:
            if info.run_id in watched:
                found[info.run_id] = info
        if stop_when_found is not None and stop_when_found <= set(found):
            return
        if not page.next_page_token:
            return
        page_token = page.next_page_token


def _failed_task_errors(
    client: DatabricksClient, report: PollReport, info: RunInfo
) -> dict[str, str]:
    errors: dict[str, str] = {}
    for task in info.tasks:
        if _value(task.result_state) in FAILED_TASK_RESULTS:
            report.api_calls += 1
            output = client.get_run_output(task.run_id)
            errors[task.task_key] = output.error or task.state_message or ""
    return errors


def _apply(session: Session, run: Run, info: RunInfo, errors: dict[str, str]) -> bool:
    life_cycle = _value(info.life_cycle_state)
    result = _value(info.result_state)
    status = run_status(life_cycle, result)
    changed = (run.life_cycle_state, run.result_state, run.status) != (life_cycle, result, status)
    run.life_cycle_state = life_cycle
    run.result_state = result
    run.state_message = info.state_message or None
    run.run_page_url = info.run_page_url or run.run_page_url
    run.started_at = _from_ms(info.start_time_ms) or run.started_at
    if status in RunStatus.TERMINAL:
        run.ended_at = _from_ms(info.end_time_ms) or utcnow()
    run.status = status
    # A retried task is listed once per attempt; its latest attempt is its state.
    latest: dict[str, TaskRunInfo] = {}
    for task in info.tasks:
        known = latest.get(task.task_key)
        if known is None or task.attempt_number >= known.attempt_number:
            latest[task.task_key] = task
    for task in latest.values():
        values = {
            "databricks_run_id": task.run_id,
            "attempt_number": task.attempt_number,
            "life_cycle_state": _value(task.life_cycle_state),
            "result_state": _value(task.result_state),
            "state_message": task.state_message or None,
            "started_at": _from_ms(task.start_time_ms),
            "ended_at": _from_ms(task.end_time_ms),
        }
        if task.task_key in errors:
            values["error"] = errors[task.task_key]
        stored = runs_repo.upsert_task_run(session, run=run, task_key=task.task_key, values=values)
        changed = changed or session.is_modified(stored)
    if changed:
        run.updated_at = utcnow()
    return changed


def _value(state: object) -> str | None:
    if state is None:
        return None
    return str(getattr(state, "value", state))


def _from_ms(ms: int | None) -> datetime | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)

"""Writing what Databricks says of a run onto its row: states, times and its tasks."""

from __future__ import annotations

from datetime import UTC, datetime

from service.databricks import RunInfo, TaskRunInfo
from service.runs.states import run_status
from service.store.models import Run, RunStatus, TaskRun, utcnow


def apply_run_info(run: Run, info: RunInfo, errors: dict[str, str]) -> bool:
    """Copies ``info`` onto ``run`` and its task rows; True when anything changed.
    ``errors`` are failed tasks' messages (from runs/get-output), by task key."""
    life_cycle = state_value(info.life_cycle_state)
    result = state_value(info.result_state)
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
    for task in latest_attempts(info.tasks).values():
        start, end = task.start_time_ms, task.end_time_ms
        values: dict[str, object] = {
            "databricks_run_id": task.run_id,
            "attempt_number": task.attempt_number,
            "life_cycle_state": state_value(task.life_cycle_state),
            "result_state": state_value(task.result_state),
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


def latest_attempts(tasks: tuple[TaskRunInfo, ...]) -> dict[str, TaskRunInfo]:
    # A retried task is listed once per attempt; its latest attempt is its state.
    latest: dict[str, TaskRunInfo] = {}
    for task in tasks:
        known = latest.get(task.task_key)
        if known is None or task.attempt_number >= known.attempt_number:
            latest[task.task_key] = task
    return latest


def state_value(state: object) -> str | None:
    if state is None:
        return None
    return str(getattr(state, "value", state))


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


def _from_ms(ms: int | None) -> datetime | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC)

"""Records to the JSON the Jobs API returns (shapes as in databricks-sdk ``service/jobs.py``);
2.1 and 2.2 differ only in how arrays are paged (``page_size``, see ``_api_version``).

Must be called with the store lock held: records change under the scheduler's threads.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ._config import LocalBackendConfig
from ._paging import encode_page_token, page_arrays
from ._records import JobRecord, RepairRecord, RunRecord, TaskRunRecord
from ._states import SUCCESSFUL_RESULTS, LifeCycleState, Termination, status_state_for
from ._task_settings import TaskKind

JsonObject = dict[str, Any]

# The arrays API 2.2 pages at 100 items, in jobs/get settings and in runs/get.
_JOB_ARRAYS = ("tasks", "job_clusters", "parameters", "environments")
_RUN_ARRAYS = ("job_clusters", "job_parameters")


def render_job(
    job: JobRecord, *, include_tasks: bool, page_size: int | None, offset: int = 0
) -> JsonObject:
    """A job; ``page_size`` items per array from ``offset`` (None, API 2.1: every item)."""
    settings = job_settings_with_defaults(job.spec.raw, queue_enabled=job.queue_enabled)
    body: JsonObject = {
        "job_id": job.job_id,
        "creator_user_name": job.creator_user_name,
        "run_as_user_name": job.creator_user_name,
        "created_time": job.created_time,
        "settings": settings,
    }
    if include_tasks:
        settings.setdefault("tasks", [])
    else:
        settings.pop("tasks", None)
        settings.pop("job_clusters", None)
    if page_arrays(settings, _JOB_ARRAYS, offset=offset, size=page_size):
        assert page_size is not None
        body["has_more"] = True
        body["next_page_token"] = encode_page_token("job-tasks", offset + page_size)
    return body


def job_settings_with_defaults(raw: Mapping[str, Any], *, queue_enabled: bool) -> JsonObject:
    """Settings as stored, with the defaults a workspace fills in."""
    settings: JsonObject = {
        "name": "Untitled",
        "email_notifications": {},
        "webhook_notifications": {},
        "timeout_seconds": 0,
        "max_concurrent_runs": 1,
        "format": "MULTI_TASK",
        # The effective setting: on by default only for jobs created with API 2.2.
        "queue": {"enabled": queue_enabled},
    }
    settings.update({key: value for key, value in raw.items() if value is not None})
    return settings


def render_run(
    run: RunRecord,
    config: LocalBackendConfig,
    *,
    include_tasks: bool,
    page_size: int | None,
    include_history: bool = False,
    offset: int = 0,
) -> JsonObject:
    """A run; ``page_size`` items per array from ``offset`` (None, API 2.1: every item)."""
    body: JsonObject = {
        "run_id": run.run_id,
        "number_in_job": run.run_id,
        "original_attempt_run_id": run.run_id,
        "attempt_number": 0,
        "creator_user_name": run.creator_user_name,
        "run_name": run.run_name,
        "run_page_url": _run_page_url(config, run.job_id, run.run_id),
        "run_type": run.run_type.value,
        "trigger": run.trigger.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "format": "MULTI_TASK",
        **_durations(run.start_time, run.end_time, queue=(run.queued_time, run.dequeued_time)),
        **_state(run.life_cycle_state, run.termination, run.state_message, run.queue_reason),
    }
    if run.job_id is not None:
        body["job_id"] = run.job_id
    if run.job_parameter_defaults:
        body["job_parameters"] = [
            {"name": name, "default": default, "value": run.job_parameters.get(name, default)}
            for name, default in run.job_parameter_defaults.items()
        ]
    overriding = _overriding_parameters(run)
    if overriding:
        body["overriding_parameters"] = overriding
    if run.raw_settings.get("job_clusters"):
        body["job_clusters"] = run.raw_settings["job_clusters"]
    # Only runs/get with include_history=true carries it (the SDK documents the flag as
    # "whether to include the repair history"; runs/list never does, see
    # databricks-sdk-py issue 157). Task arrays list every attempt either way.
    if include_history and run.repair_history:
        body["repair_history"] = [_repair_entry(entry) for entry in run.repair_history]
    more = page_arrays(body, _RUN_ARRAYS, offset=offset, size=page_size)
    if include_tasks:
        # One entry per attempt, as a workspace answers: a retried task appears once per
        # attempt (clients keep the highest attempt_number of each task_key).
        order = {task.task_key: index for index, task in enumerate(run.tasks_spec)}
        attempts = sorted(run.attempts, key=lambda a: (order[a.task_key], a.attempt_number))
        end = len(attempts) if page_size is None else offset + page_size
        body["tasks"] = [render_task_run(attempt, run, config) for attempt in attempts[offset:end]]
        more |= end < len(attempts)
    if more:
        assert page_size is not None
        body["has_more"] = True
        body["next_page_token"] = encode_page_token("run-tasks", offset + page_size)
    return body


def render_task_run(
    attempt: TaskRunRecord, run: RunRecord, config: LocalBackendConfig
) -> JsonObject:
    body: JsonObject = dict(attempt.task.raw)  # the task's settings, as configured
    body.update(
        {
            "run_id": attempt.run_id,
            "task_key": attempt.task_key,
            "attempt_number": attempt.attempt_number,
            "run_if": attempt.task.run_if.value,
            "run_page_url": _run_page_url(config, run.job_id, attempt.run_id),
            "start_time": attempt.start_time,
            "end_time": attempt.end_time,
            **_durations(attempt.start_time, attempt.end_time),
            **_state(attempt.life_cycle_state, attempt.termination, attempt.state_message, None),
        }
    )
    if attempt.repair_id is not None:
        body["attempt_repair_id"] = attempt.repair_id  # not a workspace field; helps reading
    if attempt.condition_outcome is not None and attempt.resolved_condition is not None:
        body["condition_task"] = {
            **dict(attempt.task.body),
            "left": attempt.resolved_condition[0],
            "right": attempt.resolved_condition[1],
            "outcome": attempt.condition_outcome,
        }
    if attempt.iteration_inputs is not None:
        body["for_each_task"] = {**dict(attempt.task.body), "stats": _iteration_stats(attempt)}
    return body


def _iteration_stats(attempt: TaskRunRecord) -> JsonObject:
    assert attempt.iteration_inputs is not None
    latest = attempt.latest_iterations().values()
    ended = [item for item in latest if item.termination is not None]
    succeeded = sum(
        1
        for item in ended
        if item.termination and item.termination.result_state in SUCCESSFUL_RESULTS
    )
    return {
        "task_run_stats": {
            "total_iterations": len(attempt.iteration_inputs),
            "scheduled_iterations": len(latest),
            "active_iterations": len(latest) - len(ended),
            "completed_iterations": len(ended),
            "succeeded_iterations": succeeded,
            "failed_iterations": len(ended) - succeeded,
        }
    }


def _repair_entry(entry: RepairRecord) -> JsonObject:
    body: JsonObject = {
        "type": "ORIGINAL" if entry.repair_id is None else "REPAIR",
        "start_time": entry.start_time,
        "end_time": entry.end_time,
        "task_run_ids": list(entry.task_run_ids),
        **_state(entry.life_cycle_state, entry.termination, "", None),
    }
    if entry.repair_id is not None:
        body["id"] = entry.repair_id
    return body


def render_task_run_metadata(
    attempt: TaskRunRecord, run: RunRecord, config: LocalBackendConfig
) -> JsonObject:
    """A task run on its own (runs/get on a task run id, and get-output's ``metadata``)."""
    body = render_task_run(attempt, run, config)
    body.update(
        {
            "job_run_id": run.run_id,
            "number_in_job": attempt.run_id,
            "original_attempt_run_id": attempt.original_attempt_run_id,
            "creator_user_name": run.creator_user_name,
            "run_name": run.run_name,
            "run_type": run.run_type.value,
            "trigger": run.trigger.value,
            "format": "MULTI_TASK",
            "tasks": [render_task_run(attempt, run, config)],
        }
    )
    if attempt.iteration_inputs is not None:
        # runs/get on a for-each task run lists its iterations (latest attempt of each).
        latest = attempt.latest_iterations()
        body["iterations"] = [
            render_task_run(latest[index], run, config) for index in sorted(latest)
        ]
    if run.job_id is not None:
        body["job_id"] = run.job_id
    return body


def render_output(attempt: TaskRunRecord, run: RunRecord, config: LocalBackendConfig) -> JsonObject:
    body: JsonObject = {"metadata": render_task_run_metadata(attempt, run, config)}
    output = attempt.output
    if output is None:
        return body
    if attempt.task.kind is TaskKind.NOTEBOOK:
        notebook_output: JsonObject = {"truncated": output.notebook_result_truncated}
        if output.notebook_result is not None:
            notebook_output["result"] = output.notebook_result
        body["notebook_output"] = notebook_output
    if output.sql_output is not None:
        body["sql_output"] = output.sql_output
    if attempt.child_run_id is not None:
        body["run_job_output"] = {"run_id": attempt.child_run_id}
    body["logs"] = output.logs
    body["logs_truncated"] = output.logs_truncated
    if output.error is not None:
        body["error"] = output.error
    if output.error_trace:
        body["error_trace"] = output.error_trace
    return body


def _state(
    life_cycle_state: LifeCycleState,
    termination: Termination | None,
    message: str,
    queue_reason: str | None,
) -> JsonObject:
    state: JsonObject = {
        "life_cycle_state": life_cycle_state.value,
        "state_message": message,
        "user_cancelled_or_timedout": bool(termination and termination.user_cancelled_or_timedout),
    }
    status: JsonObject = {"state": status_state_for(life_cycle_state).value}
    if termination is not None:
        state["result_state"] = termination.result_state.value
        status["termination_details"] = {
            "code": termination.code.value,
            "type": termination.type.value,
            "message": termination.message,
        }
    if queue_reason:
        state["queue_reason"] = queue_reason
        status["queue_details"] = {"code": "MAX_CONCURRENT_RUNS_REACHED", "message": queue_reason}
    return {"state": state, "status": status}


def _durations(start_time: int, end_time: int, *, queue: tuple[int, int] = (0, 0)) -> JsonObject:
    """``queue``: when the run entered its queue and left it (0, 0: never queued; a left
    time of 0: still queued)."""
    now = int(time.time() * 1000)
    elapsed = (end_time or now) - start_time if start_time else 0
    queued_time, left_time = queue
    return {
        "setup_duration": 0,
        "execution_duration": max(0, elapsed),
        "cleanup_duration": 0,
        "queue_duration": max(0, (left_time or now) - queued_time) if queued_time else 0,
        "run_duration": max(0, elapsed),
    }


def _overriding_parameters(run: RunRecord) -> JsonObject:
    return run.legacy_params.overriding_parameters()


def _run_page_url(config: LocalBackendConfig, job_id: int | None, run_id: int) -> str:
    base = config.public_url.rstrip("/")
    if job_id is None:
        return f"{base}/?o={config.workspace_id}#job/run/{run_id}"
    return f"{base}/?o={config.workspace_id}#job/{job_id}/run/{run_id}"

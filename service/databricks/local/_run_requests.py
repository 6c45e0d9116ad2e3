"""jobs/run-now and jobs/runs/submit: validate the request, honour its idempotency token,
record the run and hand it to the scheduler.

Invariant: the token lookup, the validation and the insert happen under one hold of the
store lock, so two concurrent requests with the same token make exactly one run. A known
token sent again with the same request returns its run. With other parameters it is a
409 RESOURCE_CONFLICT (Lockgate's issue 4 asks for that), unless the backend is
configured with ``reject_reused_idempotency_tokens=False``: then it returns the existing
run whatever the other fields say, which is what a real workspace does. A token whose run
was deleted is refused, as on Databricks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from typing import Any

from ._backend import LOCAL_USER, LocalBackend
from ._errors import invalid_parameter, resource_conflict
from ._job_settings import parse_cluster_keys
from ._legacy_params import parse_legacy_params
from ._payload import JsonObject, get_bool, get_int, get_object, get_str, get_str_list, get_str_map
from ._records import RunRecord
from ._spec_validation import check_with_spec_model
from ._states import RunType, TriggerType
from ._task_settings import TaskSpec, parse_tasks
from ._time import now_ms
from ._webhook_settings import check_webhook_notifications

MAX_TOKEN_LENGTH = 64
# The runs/submit fields that are also job settings, checked with the spec model.
_SUBMIT_CHECKED = ("tasks", "timeout_seconds", "environments", "job_clusters")


def run_now(backend: LocalBackend, payload: JsonObject) -> JsonObject:
    store = backend.store
    token = _idempotency_token(payload)
    fingerprint = request_fingerprint(payload)
    with store.lock:
        existing = _run_of_token(backend, token, fingerprint)
        if existing is not None:
            return {"run_id": existing.run_id, "number_in_job": existing.run_id}
        if payload.get("job_id") is None:
            raise invalid_parameter("job_id is required")
        job = store.get_job(get_int(payload, "job_id", "", default=0))
        defaults = job.spec.parameter_defaults()
        job_parameters = get_str_map(payload, "job_parameters", "")
        undeclared = sorted(set(job_parameters) - set(defaults))
        if undeclared:
            raise invalid_parameter(
                f"job_parameters {', '.join(undeclared)} are not defined in the job's parameters"
            )
        tasks = _only(job.spec.tasks, get_str_list(payload, "only", ""))
        if not tasks:
            raise invalid_parameter(f"Job {job.job_id} has no tasks to run")
        legacy_params = parse_legacy_params(payload)
        # queue.enabled for this run only, over the job's setting.
        queue = get_object(payload, "queue", "")
        queue_enabled = None if queue is None else get_bool(queue, "enabled", "queue", default=True)
        now = now_ms()
        run = RunRecord(
            run_id=store.new_run_id(),
            run_type=RunType.JOB_RUN,
            trigger=TriggerType.ONE_TIME,
            run_name=job.spec.name,
            tasks_spec=tasks,
            created_time=now,
            start_time=now,
            timeout_seconds=job.spec.timeout_seconds,
            creator_user_name=LOCAL_USER,
            job_id=job.job_id,
            job=job,
            idempotency_token=token,
            job_parameters={**defaults, **job_parameters},
            job_parameter_defaults=defaults,
            legacy_params=legacy_params,
            queue_enabled=queue_enabled,
            raw_settings=dict(job.spec.raw),
            request_fingerprint=fingerprint,
        )
        store.add_run(run)
        backend.scheduler.start(run)
        return {"run_id": run.run_id, "number_in_job": run.run_id}


def submit_run(backend: LocalBackend, payload: JsonObject) -> JsonObject:
    store = backend.store
    token = _idempotency_token(payload)
    fingerprint = request_fingerprint(payload)
    with store.lock:
        existing = _run_of_token(backend, token, fingerprint)
        if existing is not None:
            return {"run_id": existing.run_id}
        check_webhook_notifications(payload, "")
        check_with_spec_model(
            {"name": payload.get("run_name")}
            | {key: payload[key] for key in _SUBMIT_CHECKED if key in payload}
        )
        tasks = parse_tasks(payload, "", cluster_keys=parse_cluster_keys(payload, ""))
        if not tasks:
            raise invalid_parameter("tasks must contain at least one task")
        now = now_ms()
        run = RunRecord(
            run_id=store.new_run_id(),
            run_type=RunType.SUBMIT_RUN,
            trigger=TriggerType.ONE_TIME,
            run_name=get_str(payload, "run_name", "") or "Untitled",
            tasks_spec=tasks,
            created_time=now,
            start_time=now,
            timeout_seconds=get_int(payload, "timeout_seconds", "", default=0, minimum=0),
            creator_user_name=LOCAL_USER,
            idempotency_token=token,
            raw_settings=_submit_settings(payload),
            request_fingerprint=fingerprint,
        )
        store.add_run(run)
        backend.scheduler.start(run)
        return {"run_id": run.run_id}


def _only(tasks: tuple[TaskSpec, ...], only: list[str]) -> tuple[TaskSpec, ...]:
    """run-now ``only``: run these tasks; dependencies on tasks left out count as met."""
    if not only:
        return tasks
    keys = {task.task_key for task in tasks}
    unknown = sorted(set(only) - keys)
    if unknown:
        raise invalid_parameter(f"only: {', '.join(unknown)} not a task of this job")
    chosen = set(only)
    return tuple(
        replace(
            task,
            depends_on=tuple(dep for dep in task.depends_on if dep in chosen),
            dependency_outcomes={
                key: value for key, value in task.dependency_outcomes.items() if key in chosen
            },
        )
        for task in tasks
        if task.task_key in chosen
    )


def request_fingerprint(payload: JsonObject) -> str:
    """What the request asked for, without its token (for reuse with other parameters)."""
    rest = {key: value for key, value in payload.items() if key != "idempotency_token"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def _run_of_token(backend: LocalBackend, token: str | None, fingerprint: str) -> RunRecord | None:
    if token is None:
        return None
    existing = backend.store.run_for_token(token)
    if existing is None:
        if backend.store.token_was_used(token):
            raise invalid_parameter(
                f"The run created with idempotency_token {token!r} was deleted; "
                "use a new token to start a run"
            )
        return None
    if (
        backend.config.reject_reused_idempotency_tokens
        and existing.request_fingerprint
        and existing.request_fingerprint != fingerprint
    ):
        raise resource_conflict(
            f"idempotency_token {token!r} was already used for run {existing.run_id} "
            "with other parameters"
        )
    return existing


def _idempotency_token(payload: JsonObject) -> str | None:
    token = get_str(payload, "idempotency_token", "")
    if token is not None and len(token) > MAX_TOKEN_LENGTH:
        raise invalid_parameter(
            f"idempotency_token must be at most {MAX_TOKEN_LENGTH} characters, got {len(token)}"
        )
    return token or None


def _submit_settings(payload: JsonObject) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != "idempotency_token"}

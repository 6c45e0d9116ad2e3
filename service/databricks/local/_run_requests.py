"""jobs/run-now and jobs/runs/submit: validate the request, honour its idempotency token,
record the run and hand it to the scheduler.

Invariant: the token lookup, the validation and the insert happen under one hold of the
store lock, so two concurrent requests with the same token make exactly one run. A known
token returns its run whatever the other fields say, as Databricks does.
"""

from __future__ import annotations

from typing import Any

from ._backend import LOCAL_USER, LocalBackend
from ._errors import invalid_parameter
from ._job_settings import parse_cluster_keys, parse_tasks
from ._payload import JsonObject, get_int, get_str, get_str_list, get_str_map
from ._records import RunRecord
from ._scheduler import now_ms
from ._states import RunType, TriggerType

MAX_TOKEN_LENGTH = 64
_UNSUPPORTED_RUN_NOW_FIELDS = ("only",)


def run_now(backend: LocalBackend, payload: JsonObject) -> JsonObject:
    store = backend.store
    token = _idempotency_token(payload)
    with store.lock:
        if token is not None and (existing := store.run_for_token(token)) is not None:
            return {"run_id": existing.run_id, "number_in_job": existing.run_id}
        if payload.get("job_id") is None:
            raise invalid_parameter("job_id is required")
        job = store.get_job(get_int(payload, "job_id", "", default=0))
        for name in _UNSUPPORTED_RUN_NOW_FIELDS:
            if payload.get(name):
                raise invalid_parameter(f"{name} is not supported by the local Databricks backend")
        defaults = job.spec.parameter_defaults()
        job_parameters = get_str_map(payload, "job_parameters", "")
        undeclared = sorted(set(job_parameters) - set(defaults))
        if undeclared:
            raise invalid_parameter(
                f"job_parameters {', '.join(undeclared)} are not defined in the job's parameters"
            )
        if not job.spec.tasks:
            raise invalid_parameter(f"Job {job.job_id} has no tasks to run")
        python_params = (
            get_str_list(payload, "python_params", "") if "python_params" in payload else None
        )
        now = now_ms()
        run = RunRecord(
            run_id=store.new_run_id(),
            run_type=RunType.JOB_RUN,
            trigger=TriggerType.ONE_TIME,
            run_name=job.spec.name,
            tasks_spec=job.spec.tasks,
            created_time=now,
            start_time=now,
            timeout_seconds=job.spec.timeout_seconds,
            creator_user_name=LOCAL_USER,
            job_id=job.job_id,
            job=job,
            idempotency_token=token,
            job_parameters={**defaults, **job_parameters},
            job_parameter_defaults=defaults,
            notebook_params=get_str_map(payload, "notebook_params", ""),
            python_params=python_params,
            raw_settings=dict(job.spec.raw),
        )
        store.add_run(run)
        backend.scheduler.start(run)
        return {"run_id": run.run_id, "number_in_job": run.run_id}


def submit_run(backend: LocalBackend, payload: JsonObject) -> JsonObject:
    store = backend.store
    token = _idempotency_token(payload)
    with store.lock:
        if token is not None and (existing := store.run_for_token(token)) is not None:
            return {"run_id": existing.run_id}
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
        )
        store.add_run(run)
        backend.scheduler.start(run)
        return {"run_id": run.run_id}


def _idempotency_token(payload: JsonObject) -> str | None:
    token = get_str(payload, "idempotency_token", "")
    if token is not None and len(token) > MAX_TOKEN_LENGTH:
        raise invalid_parameter(
            f"idempotency_token must be at most {MAX_TOKEN_LENGTH} characters, got {len(token)}"
        )
    return token or None


def _submit_settings(payload: JsonObject) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != "idempotency_token"}

"""``/api/2.x/jobs/...``: create, get, list, reset, update, delete and run-now."""

from __future__ import annotations

import copy
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ._backend import LOCAL_USER
from ._errors import ApiError, invalid_parameter
from ._http import ApiVersionDep, BackendDep, JsonBody
from ._job_settings import parse_job_settings
from ._paging import decode_page_token
from ._payload import JsonObject, as_object, get_int, get_list, get_object
from ._records import JobRecord
from ._render import render_job
from ._run_requests import run_now
from ._time import now_ms

router = APIRouter()


@router.post("/create")
def create_job(backend: BackendDep, version: ApiVersionDep, payload: JsonBody) -> JsonObject:
    spec = parse_job_settings(payload)
    job = JobRecord(
        job_id=backend.store.new_job_id(),
        spec=spec,
        created_time=now_ms(),
        creator_user_name=LOCAL_USER,
        created_with=version,  # 2.1-created jobs do not queue unless they say so
    )
    backend.store.add_job(job)
    return {"job_id": job.job_id}


@router.get("/get")
def get_job(
    backend: BackendDep, version: ApiVersionDep, job_id: int, page_token: str | None = None
) -> JsonObject:
    offset = decode_page_token(page_token, "job-tasks") or 0
    with backend.store.lock:
        job = backend.store.get_job(job_id)
        return render_job(job, include_tasks=True, page_size=version.array_page_size, offset=offset)


@router.get("/list")
def list_jobs(
    backend: BackendDep,
    version: ApiVersionDep,
    limit: Annotated[int, Query()] = 20,
    page_token: str | None = None,
    name: str | None = None,
    expand_tasks: bool = False,
) -> JsonObject:
    if not 1 <= limit <= 100:
        raise invalid_parameter(f"limit must be between 1 and 100, got {limit}")
    with backend.store.lock:
        page = backend.store.list_jobs(limit=limit, page_token=page_token, name=name)
        body: JsonObject = {"has_more": page.next_page_token is not None}
        if page.items:
            # expand_tasks: the first 100 tasks and clusters of each (2.2); jobs/get pages on.
            size = version.array_page_size
            body["jobs"] = [
                render_job(job, include_tasks=expand_tasks, page_size=size) for job in page.items
            ]
        if page.next_page_token:
            body["next_page_token"] = page.next_page_token
        if page.prev_page_token:
            body["prev_page_token"] = page.prev_page_token
        return body


@router.post("/reset")
def reset_job(backend: BackendDep, payload: JsonBody) -> JsonObject:
    job_id = _required_id(payload, "job_id")
    if payload.get("new_settings") is None:
        raise invalid_parameter("new_settings is required")
    spec = parse_job_settings(payload["new_settings"], "new_settings")
    with backend.store.lock:
        backend.store.get_job(job_id).spec = spec  # runs already started keep their settings
    return {}


@router.post("/update")
def update_job(backend: BackendDep, payload: JsonBody) -> JsonObject:
    job_id = _required_id(payload, "job_id")
    new_settings = get_object(payload, "new_settings", "") or {}
    removals = get_list(payload, "fields_to_remove", "")
    with backend.store.lock:
        job = backend.store.get_job(job_id)
        merged = _merge_settings(dict(job.spec.raw), new_settings, removals)
        try:
            job.spec = parse_job_settings(merged)
        except ApiError as exc:
            # Paths name the merged settings (tasks[1] is the job's second task after
            # the update), not the request's new_settings.
            message = f"the job's settings after this update: {exc.message}"
            raise ApiError(exc.status_code, exc.error_code, message) from None
    return {}


@router.post("/delete")
def delete_job(backend: BackendDep, payload: JsonBody) -> JsonObject:
    job_id = _required_id(payload, "job_id")
    with backend.store.lock:
        backend.store.remove_job(job_id)
        for run in backend.store.unfinished_runs():
            if run.job_id == job_id:
                backend.scheduler.cancel(run)
    return {}


@router.post("/run-now")
def run_job_now(backend: BackendDep, payload: JsonBody) -> JsonObject:
    return run_now(backend, payload)


def _required_id(payload: JsonObject, key: str) -> int:
    if payload.get(key) is None:
        raise invalid_parameter(f"{key} is required")
    return get_int(payload, key, "", default=0)


_KEYED_ARRAYS = {"tasks": "task_key", "job_clusters": "job_cluster_key", "parameters": "name"}


def _merge_settings(
    current: dict[str, Any], new_settings: JsonObject, removals: list[Any]
) -> dict[str, Any]:
    """jobs/update: top-level fields replaced, keyed arrays merged by key, then removals."""
    merged = copy.deepcopy(current)
    for field, value in new_settings.items():
        key_name = _KEYED_ARRAYS.get(field)
        if key_name is None or not isinstance(value, list):
            merged[field] = value
            continue
        items = {
            item.get(key_name): item for item in merged.get(field, []) if isinstance(item, dict)
        }
        for index, item in enumerate(value):
            entry = as_object(item, f"new_settings.{field}[{index}]")
            items[entry.get(key_name)] = entry
        merged[field] = list(items.values())
    for index, removal in enumerate(removals):
        if not isinstance(removal, str):
            raise invalid_parameter(f"fields_to_remove[{index}] must be a string")
        field, _, key = removal.partition("/")
        if key and field in _KEYED_ARRAYS:
            key_name = _KEYED_ARRAYS[field]
            merged[field] = [item for item in merged.get(field, []) if item.get(key_name) != key]
        else:
            merged.pop(field, None)
    return merged

"""``/api/2.x/jobs/runs/...``: submit, get, list, cancel, cancel-all, get-output, repair,
delete and export."""

from __future__ import annotations

from fastapi import APIRouter

from ._errors import invalid_parameter, invalid_state
from ._http import ApiVersionDep, BackendDep, JsonBody
from ._notebook_source import TaskSetupError, resolve_notebook
from ._paging import decode_page_token
from ._payload import JsonObject, get_bool, get_int
from ._records import RunRecord, TaskRunRecord
from ._render import render_output, render_run, render_task_run_metadata
from ._repairs import repair_parameters, tasks_to_rerun
from ._run_filter import RunFilter
from ._run_requests import submit_run
from ._states import LifeCycleState, RunType
from ._task_settings import TaskKind

router = APIRouter()

MAX_RUNS_PAGE = 25


@router.post("/submit")
def submit(backend: BackendDep, payload: JsonBody) -> JsonObject:
    return submit_run(backend, payload)


@router.get("/get")
def get_run(
    backend: BackendDep,
    version: ApiVersionDep,
    run_id: int,
    page_token: str | None = None,
    include_history: bool = False,
    include_resolved_values: bool = False,
) -> JsonObject:
    offset = decode_page_token(page_token, "run-tasks") or 0
    store = backend.store
    with store.lock:
        found = store.find_run(run_id)
        if isinstance(found, TaskRunRecord):
            return render_task_run_metadata(
                found, store.get_run(found.parent_run_id), backend.config
            )
        return render_run(
            found,
            backend.config,
            include_tasks=True,
            page_size=version.array_page_size,
            include_history=include_history,
            offset=offset,
        )


@router.get("/list")
def list_runs(
    backend: BackendDep,
    version: ApiVersionDep,
    job_id: int | None = None,
    active_only: bool = False,
    completed_only: bool = False,
    limit: int = 20,
    page_token: str | None = None,
    run_type: RunType | None = None,
    expand_tasks: bool = False,
    start_time_from: int | None = None,
    start_time_to: int | None = None,
) -> JsonObject:
    if active_only and completed_only:
        raise invalid_parameter("active_only and completed_only cannot both be true")
    if limit == 0:  # the Jobs API documents 0 as "the maximum"
        limit = MAX_RUNS_PAGE
    if not 1 <= limit <= MAX_RUNS_PAGE:
        raise invalid_parameter(f"limit must be between 1 and {MAX_RUNS_PAGE}, got {limit}")
    run_filter = RunFilter(
        job_id=job_id,
        active_only=active_only,
        completed_only=completed_only,
        run_type=run_type,
        start_time_from=start_time_from,
        start_time_to=start_time_to,
    )
    store = backend.store
    with store.lock:
        page = store.list_runs(run_filter, limit=limit, page_token=page_token)
        body: JsonObject = {"has_more": page.next_page_token is not None}
        if page.items:
            # expand_tasks: the first 100 task runs of each (2.2); runs/get pages on.
            body["runs"] = [
                render_run(
                    run,
                    backend.config,
                    include_tasks=expand_tasks,
                    page_size=version.array_page_size,
                )
                for run in page.items
            ]
        if page.next_page_token:
            body["next_page_token"] = page.next_page_token
        return body


@router.post("/cancel")
def cancel_run(backend: BackendDep, payload: JsonBody) -> JsonObject:
    if payload.get("run_id") is None:
        raise invalid_parameter("run_id is required")
    store = backend.store
    with store.lock:
        found = store.find_run(get_int(payload, "run_id", "", default=0))
        # A task run id cancels the run it belongs to.
        run = store.get_run(found.parent_run_id) if isinstance(found, TaskRunRecord) else found
        backend.scheduler.cancel(run)
    return {}


@router.post("/cancel-all")
def cancel_all_runs(backend: BackendDep, payload: JsonBody) -> JsonObject:
    all_queued = get_bool(payload, "all_queued_runs", "", default=False)
    job_id = None if payload.get("job_id") is None else get_int(payload, "job_id", "", default=0)
    if job_id is None and not all_queued:
        raise invalid_parameter("job_id is required unless all_queued_runs is true")
    store = backend.store
    with store.lock:
        if job_id is not None:
            store.get_job(job_id)
        for run in store.unfinished_runs():
            if _cancel_all_selects(run, job_id, all_queued):
                backend.scheduler.cancel(run)
    return {}


@router.get("/get-output")
def get_run_output(backend: BackendDep, run_id: int) -> JsonObject:
    store = backend.store
    with store.lock:
        found = store.find_run(run_id)
        if isinstance(found, RunRecord):
            if len(found.latest_attempts) != 1:
                raise invalid_parameter(
                    "Retrieving the output of runs with multiple tasks is not supported. "
                    "Please retrieve the output of each individual task run instead."
                )
            found = next(iter(found.latest_attempts.values()))
        return render_output(found, store.get_run(found.parent_run_id), backend.config)


def _cancel_all_selects(run: RunRecord, job_id: int | None, all_queued: bool) -> bool:
    if job_id is not None and run.job_id != job_id:
        return False
    return not all_queued or run.life_cycle_state is LifeCycleState.QUEUED


@router.post("/repair")
def repair_run(backend: BackendDep, payload: JsonBody) -> JsonObject:
    if payload.get("run_id") is None:
        raise invalid_parameter("run_id is required")
    with backend.store.lock:
        run = backend.store.get_run(get_int(payload, "run_id", "", default=0))
        keys = tasks_to_rerun(run, payload)
        repair_parameters(run, payload)
        return {"repair_id": backend.scheduler.repair(run, keys)}


@router.post("/delete")
def delete_run(backend: BackendDep, payload: JsonBody) -> JsonObject:
    if payload.get("run_id") is None:
        raise invalid_parameter("run_id is required")
    with backend.store.lock:
        run = backend.store.get_run(get_int(payload, "run_id", "", default=0))
        if not run.is_terminal:
            raise invalid_state(
                f"Run {run.run_id} is active ({run.life_cycle_state.value}); cancel it before "
                "deleting it"
            )
        backend.store.remove_run(run)
    return {}


@router.get("/export")
def export_run(backend: BackendDep, run_id: int, views_to_export: str = "CODE") -> JsonObject:
    """The code of a notebook task run (``CODE``); this backend has no dashboards."""
    if views_to_export not in ("CODE", "DASHBOARDS", "ALL"):
        raise invalid_parameter("views_to_export must be CODE, DASHBOARDS or ALL")
    with backend.store.lock:
        found = backend.store.find_run(run_id)
        if isinstance(found, RunRecord):
            if len(found.latest_attempts) != 1:
                raise invalid_parameter(
                    "Exporting runs with multiple tasks is not supported; export a task run"
                )
            found = next(iter(found.latest_attempts.values()))
        task = found.task
    if views_to_export == "DASHBOARDS":
        return {"views": []}
    if task.kind is not TaskKind.NOTEBOOK:
        raise invalid_parameter(f"Run {run_id} is not a notebook task run; only notebooks export")
    try:
        path = resolve_notebook(backend.config.workspace_dir, task.notebook_path)
        content = path.read_text(encoding="utf-8")
    except (TaskSetupError, OSError) as exc:
        raise invalid_parameter(f"the notebook of run {run_id} cannot be read: {exc}") from None
    return {"views": [{"content": content, "name": task.notebook_path, "type": "NOTEBOOK"}]}

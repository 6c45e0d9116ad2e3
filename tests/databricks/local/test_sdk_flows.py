"""The official databricks-sdk as the client: submit and wait, paging, repair, output,
idempotency, notebooks uploaded through the Workspace API, run delete and export."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import (
    InvalidParameterValue,
    InvalidState,
    ResourceConflict,
    ResourceDoesNotExist,
)
from databricks.sdk.service import jobs as sdk_jobs
from databricks.sdk.service.workspace import ExportFormat, ImportFormat, ObjectType

from tests.databricks.local.conftest import TOKEN, RunningBackend

WAIT = timedelta(seconds=60)


@pytest.fixture
def workspace(local_backend: RunningBackend) -> WorkspaceClient:
    return WorkspaceClient(host=local_backend.url, token=TOKEN)


@pytest.fixture
def folder(workspace: WorkspaceClient, request: pytest.FixtureRequest) -> str:
    path = f"/Users/sdk/{request.node.name}-{uuid.uuid4().hex[:6]}"
    workspace.workspace.mkdirs(path)
    return path


def upload(workspace: WorkspaceClient, path: str, code: str) -> str:
    source = f"# Databricks notebook source\n{code}\n"
    workspace.workspace.upload(path, source.encode(), format=ImportFormat.SOURCE, overwrite=True)
    return path


def nb_task(key: str, path: str, *deps: str) -> sdk_jobs.Task:
    return sdk_jobs.Task(
        task_key=key,
        notebook_task=sdk_jobs.NotebookTask(notebook_path=path),
        depends_on=[sdk_jobs.TaskDependency(task_key=dep) for dep in deps] or None,
    )


def test_workspace_api_round_trip(workspace: WorkspaceClient, folder: str) -> None:
    path = upload(workspace, f"{folder}/hello", "print('hi')")
    status = workspace.workspace.get_status(path)
    assert status.object_type == ObjectType.NOTEBOOK and status.path == path
    workspace.workspace.import_(
        f"{folder}/data.csv",
        content=base64.b64encode(b"a,b\n1,2\n").decode(),
        format=ImportFormat.AUTO,
    )
    listed = {(item.path, item.object_type) for item in workspace.workspace.list(folder)}
    assert listed == {(path, ObjectType.NOTEBOOK), (f"{folder}/data.csv", ObjectType.FILE)}
    exported = workspace.workspace.export(path, format=ExportFormat.SOURCE)
    assert (
        base64.b64decode(exported.content or "").decode().startswith("# Databricks notebook source")
    )
    with pytest.raises(ResourceDoesNotExist):
        workspace.workspace.get_status(f"{folder}/missing")
    with pytest.raises(Exception, match="not empty"):
        workspace.workspace.delete(folder)
    workspace.workspace.delete(folder, recursive=True)
    with pytest.raises(ResourceDoesNotExist):
        workspace.workspace.get_status(folder)


def test_submit_uploaded_notebook_wait_output_export_and_delete(
    workspace: WorkspaceClient, folder: str
) -> None:
    path = upload(
        workspace, f"{folder}/exit", "dbutils.notebook.exit('uploaded ' + dbutils.widgets.get('w'))"
    )
    run = workspace.jobs.submit(
        run_name="sdk-submit",
        tasks=[
            sdk_jobs.SubmitTask(
                task_key="t",
                notebook_task=sdk_jobs.NotebookTask(notebook_path=path, base_parameters={"w": "v"}),
            )
        ],
    ).result(timeout=WAIT)
    assert run.state is not None and run.state.result_state == sdk_jobs.RunResultState.SUCCESS
    assert run.run_type == sdk_jobs.RunType.SUBMIT_RUN and run.tasks is not None
    task_run_id = run.tasks[0].run_id
    assert task_run_id is not None and task_run_id != run.run_id
    output = workspace.jobs.get_run_output(task_run_id)
    assert output.notebook_output is not None and output.notebook_output.result == "uploaded v"
    exported = workspace.jobs.export_run(task_run_id)
    assert exported.views and "dbutils.notebook.exit" in (exported.views[0].content or "")

    assert run.run_id is not None
    workspace.jobs.delete_run(run.run_id)
    with pytest.raises(ResourceDoesNotExist):
        workspace.jobs.get_run(run.run_id)


def test_repair_reruns_failed_tasks_and_needs_the_latest_repair_id(
    workspace: WorkspaceClient, folder: str, tmp_path: Path
) -> None:
    flag = tmp_path / "fixed"
    flaky = upload(
        workspace, f"{folder}/flaky", f"import os\nassert os.path.exists({str(flag)!r}), 'not yet'"
    )
    ok = upload(workspace, f"{folder}/ok", "print('ok')")
    job = workspace.jobs.create(
        name="repairable",
        tasks=[
            nb_task("first", ok),
            nb_task("flaky", flaky, "first"),
            nb_task("last", ok, "flaky"),
        ],
    )
    assert job.job_id is not None
    run = workspace.jobs.run_now(job.job_id).result(timeout=WAIT)
    assert run.state is not None and run.state.result_state == sdk_jobs.RunResultState.FAILED
    first_attempts = {t.task_key: t.run_id for t in run.tasks or []}
    assert run.run_id is not None

    flag.write_text("yes")
    repaired = workspace.jobs.repair_run(run.run_id, rerun_all_failed_tasks=True).result(
        timeout=WAIT
    )
    assert (
        repaired.state is not None
        and repaired.state.result_state == sdk_jobs.RunResultState.SUCCESS
    )
    # The repair history comes only with include_history (runs/list never carries it).
    assert not repaired.repair_history
    listed = next(iter(workspace.jobs.list_runs(job_id=job.job_id, expand_tasks=True)))
    assert listed.run_id == run.run_id and not listed.repair_history
    history = workspace.jobs.get_run(run.run_id, include_history=True).repair_history or []
    assert [entry.type for entry in history] == [
        sdk_jobs.RepairHistoryItemType.ORIGINAL,
        sdk_jobs.RepairHistoryItemType.REPAIR,
    ]
    repair_id = history[1].id
    assert repair_id is not None
    latest: dict[str | None, sdk_jobs.RunTask] = {}
    for task in repaired.tasks or []:
        if task.task_key not in latest or (task.attempt_number or 0) > (
            latest[task.task_key].attempt_number or 0
        ):
            latest[task.task_key] = task
    assert latest["first"].run_id == first_attempts["first"]  # not rerun
    assert latest["flaky"].run_id != first_attempts["flaky"]
    rerun_ids = [latest["flaky"].run_id or 0, latest["last"].run_id or 0]
    assert sorted(history[1].task_run_ids or []) == sorted(rerun_ids)

    with pytest.raises(InvalidParameterValue, match="latest_repair_id"):
        workspace.jobs.repair_run(run.run_id, rerun_tasks=["first"])
    again = workspace.jobs.repair_run(
        run.run_id, rerun_tasks=["first"], rerun_dependent_tasks=True, latest_repair_id=repair_id
    ).result(timeout=WAIT)
    assert not again.repair_history
    history = workspace.jobs.get_run(run.run_id, include_history=True).repair_history or []
    assert [entry.id for entry in history][:2] == [None, repair_id]
    assert len(history) == 3 and history[2].id is not None and history[2].id > repair_id
    assert again.state is not None and again.state.result_state == sdk_jobs.RunResultState.SUCCESS


def test_repair_of_an_active_run_is_refused(workspace: WorkspaceClient, folder: str) -> None:
    slow = upload(workspace, f"{folder}/slow", "import time\ntime.sleep(30)")
    job = workspace.jobs.create(name="busy", tasks=[nb_task("slow", slow)])
    assert job.job_id is not None
    waiter = workspace.jobs.run_now(job.job_id)
    with pytest.raises(InvalidState):
        workspace.jobs.repair_run(waiter.run_id, rerun_all_failed_tasks=True)
    with pytest.raises(InvalidState):
        workspace.jobs.delete_run(waiter.run_id)
    workspace.jobs.cancel_run(waiter.run_id).result(timeout=WAIT)


def test_idempotency_same_token_same_run_other_parameters_conflict(
    workspace: WorkspaceClient, folder: str
) -> None:
    path = upload(workspace, f"{folder}/ok", "print('ok')")
    job = workspace.jobs.create(name="idem", tasks=[nb_task("t", path)])
    assert job.job_id is not None
    token = f"tok-{uuid.uuid4()}"
    first = workspace.jobs.run_now(job.job_id, idempotency_token=token)
    second = workspace.jobs.run_now(job.job_id, idempotency_token=token)
    assert first.bind()["run_id"] == second.bind()["run_id"]
    with pytest.raises(ResourceConflict):
        workspace.jobs.run_now(job.job_id, idempotency_token=token, notebook_params={"x": "1"})
    first.result(timeout=WAIT)
    workspace.jobs.delete_run(first.run_id)
    with pytest.raises(InvalidParameterValue, match="was deleted"):
        workspace.jobs.run_now(job.job_id, idempotency_token=token)


def test_runs_list_pages_through_the_sdk(workspace: WorkspaceClient, folder: str) -> None:
    job = workspace.jobs.create(
        name="many",
        tasks=[
            sdk_jobs.Task(task_key="off", disabled=True, notebook_task=sdk_jobs.NotebookTask("/x"))
        ],
        max_concurrent_runs=30,
    )
    assert job.job_id is not None
    run_ids = [workspace.jobs.run_now(job.job_id).run_id for _ in range(27)]
    listed = [run.run_id for run in workspace.jobs.list_runs(job_id=job.job_id, limit=25)]
    assert listed == list(reversed(run_ids))  # two pages, newest first
    assert (
        len(list(workspace.jobs.list_runs(job_id=job.job_id, completed_only=True, limit=10))) == 27
    )


def test_jobs_list_pages_through_the_sdk(workspace: WorkspaceClient) -> None:
    name = f"sdk-paged-{uuid.uuid4()}"
    task = sdk_jobs.Task(task_key="off", disabled=True, notebook_task=sdk_jobs.NotebookTask("/x"))
    job_ids = [workspace.jobs.create(name=name, tasks=[task]).job_id for _ in range(5)]
    # limit=2: three pages, followed by the SDK through next_page_token.
    assert [job.job_id for job in workspace.jobs.list(name=name, limit=2)] == job_ids
    assert [job.job_id for job in workspace.jobs.list(name=name.upper())] == job_ids

"""The official databricks-sdk and Lockgate's own client, unchanged, against the local backend."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import InvalidParameterValue, ResourceDoesNotExist
from databricks.sdk.service import jobs as sdk_jobs

from service.databricks import DatabricksClient, LifeCycleState, PatAuth, ResultState
from tests.databricks.local.conftest import TOKEN, RunningBackend, notebook_task


@pytest.fixture
def workspace(local_backend: RunningBackend) -> WorkspaceClient:
    return WorkspaceClient(host=local_backend.url, token=TOKEN)


def test_sdk_create_run_now_get_run_and_output(
    workspace: WorkspaceClient, notebook: Callable[..., str], local_backend: RunningBackend
) -> None:
    path = notebook(
        "greet",
        "name = dbutils.widgets.get('name')\nprint('greeting', name)",
        "dbutils.notebook.exit(f'hello {name}')",
    )
    created = workspace.jobs.create(
        name="sdk-job",
        tasks=[
            sdk_jobs.Task(
                task_key="greet",
                notebook_task=sdk_jobs.NotebookTask(
                    notebook_path=path, base_parameters={"name": "base"}
                ),
            )
        ],
        parameters=[sdk_jobs.JobParameterDefinition(name="region", default="west")],
    )
    assert created.job_id is not None
    job = workspace.jobs.get(created.job_id)
    assert job.settings is not None and job.settings.name == "sdk-job"

    waiter = workspace.jobs.run_now(
        created.job_id, notebook_params={"name": "sdk"}, idempotency_token=str(uuid.uuid4())
    )
    run = waiter.result(timeout=timedelta(seconds=60))
    assert run.state is not None
    assert run.state.life_cycle_state == sdk_jobs.RunLifeCycleState.TERMINATED
    assert run.state.result_state == sdk_jobs.RunResultState.SUCCESS
    assert (
        run.status is not None and run.status.state == sdk_jobs.RunLifecycleStateV2State.TERMINATED
    )
    assert run.run_type == sdk_jobs.RunType.JOB_RUN
    assert run.trigger == sdk_jobs.TriggerType.ONE_TIME
    assert run.job_parameters is not None
    assert [(p.name, p.value) for p in run.job_parameters] == [("region", "west")]
    assert run.tasks is not None and len(run.tasks) == 1
    task = run.tasks[0]
    assert task.task_key == "greet" and task.run_id is not None

    again = workspace.jobs.get_run(run.run_id)  # type: ignore[arg-type]
    assert again.run_id == run.run_id
    # Identity fields: number_in_job and original_attempt_run_id are the run's own id.
    assert again.number_in_job == again.original_attempt_run_id == run.run_id
    assert again.attempt_number == 0 and again.job_id == created.job_id
    assert again.run_page_url == (
        f"{local_backend.config.public_url}/?o={local_backend.config.workspace_id}"
        f"#job/{created.job_id}/run/{run.run_id}"
    )
    task_run = workspace.jobs.get_run(task.run_id)
    assert task_run.original_attempt_run_id == task.run_id and task_run.attempt_number == 0
    assert task_run.run_page_url == task.run_page_url and task.run_page_url is not None
    assert task.run_page_url.endswith(f"#job/{created.job_id}/run/{task.run_id}")
    output = workspace.jobs.get_run_output(task.run_id)
    assert output.notebook_output is not None
    assert output.notebook_output.result == "hello sdk"
    assert output.metadata is not None and output.metadata.run_id == task.run_id

    listed = list(workspace.jobs.list_runs(job_id=created.job_id, expand_tasks=True))
    assert [r.run_id for r in listed] == [run.run_id]
    assert listed[0].tasks is not None and listed[0].tasks[0].state is not None
    assert [j.job_id for j in workspace.jobs.list(name="SDK-JOB")] == [created.job_id]


def test_sdk_maps_the_backend_errors(workspace: WorkspaceClient) -> None:
    with pytest.raises(ResourceDoesNotExist):
        workspace.jobs.get(1)
    with pytest.raises(ResourceDoesNotExist):
        workspace.jobs.get_run(1)
    with pytest.raises(InvalidParameterValue, match="cannot both be true"):
        list(workspace.jobs.list_runs(active_only=True, completed_only=True))


def test_sdk_submit_and_cancel(workspace: WorkspaceClient, notebook: Callable[..., str]) -> None:
    path = notebook("sleepy", "import time\ntime.sleep(60)")
    waiter = workspace.jobs.submit(
        run_name="sdk-submit",
        tasks=[sdk_jobs.SubmitTask(task_key="s", notebook_task=sdk_jobs.NotebookTask(path))],
    )
    workspace.jobs.cancel_run(waiter.run_id).result(timeout=timedelta(seconds=30))
    run = workspace.jobs.get_run(waiter.run_id)
    assert run.state is not None and run.state.result_state == sdk_jobs.RunResultState.CANCELED
    assert run.run_type == sdk_jobs.RunType.SUBMIT_RUN


def test_lockgate_client_against_the_backend(
    local_backend: RunningBackend, notebook: Callable[..., str]
) -> None:
    path = notebook("hello", "dbutils.notebook.exit('from lockgate')")
    with DatabricksClient(local_backend.url, PatAuth(TOKEN)) as client:
        job_id = client.create_job({"name": "lockgate-job", "tasks": [notebook_task("t", path)]})
        token = f"run-{uuid.uuid4()}"
        run_id = client.run_now(job_id, idempotency_token=token)
        assert client.run_now(job_id, idempotency_token=token) == run_id

        page = client.list_runs(job_id=job_id, expand_tasks=True)
        assert [run.run_id for run in page.runs] == [run_id]

        deadline = time.monotonic() + 30
        run = client.get_run(run_id)
        while run.life_cycle_state is not LifeCycleState.TERMINATED:
            assert time.monotonic() < deadline, run
            time.sleep(0.05)
            run = client.get_run(run_id)
        assert run.result_state is ResultState.SUCCESS
        assert [task.task_key for task in run.tasks] == ["t"]
        output = client.get_run_output(run.tasks[0].run_id)
        assert output.notebook_result == "from lockgate"

        done = client.list_runs(job_id=job_id, completed_only=True)
        assert done.runs[0].result_state is ResultState.SUCCESS

"""`lockgate local-databricks` as a process of its own: jobs and runs survive a restart,
and a run that was active when the process died ends INTERNAL_ERROR; task arrays over
100 are paged."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from databricks.sdk import WorkspaceClient
from databricks.sdk.service import jobs as sdk_jobs

from tests.databricks.local.conftest import TOKEN, Jobs, process_is_gone, wait_for_file
from tests.servers import free_port


@contextmanager
def standalone(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOCKGATE_")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "local-databricks",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/.well-known/databricks-config")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, "server did not start"
                time.sleep(0.05)
        yield url, server
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_jobs_and_runs_survive_a_restart_and_active_runs_end_internal_error(tmp_path: Path) -> None:
    """The restart also kills the task processes the SIGKILLed backend left running."""
    data_dir = tmp_path / "data"
    notebook = data_dir / "workspace" / "Shared" / "sleep.py"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(
        "# Databricks notebook source\n"
        "import os, subprocess, time\n"
        "seconds = dbutils.widgets.get('seconds')\n"
        "child = subprocess.Popen(['sleep', seconds])  # a process of the task's own\n"
        "pids = f'{os.getpid()} {child.pid}'\n"
        "open(dbutils.widgets.get('pid_file'), 'w').write(pids)\n"
        "child.wait()\n"
    )
    pid_file = tmp_path / "task.pid"
    task_pid = 0
    try:
        with standalone(data_dir) as (url, server):
            workspace = WorkspaceClient(host=url, token=TOKEN)
            job = workspace.jobs.create(
                name="durable",
                tasks=[
                    sdk_jobs.Task(
                        task_key="sleep",
                        notebook_task=sdk_jobs.NotebookTask(
                            "/Shared/sleep",
                            base_parameters={"pid_file": str(pid_file), "seconds": "0"},
                        ),
                    )
                ],
                max_concurrent_runs=2,
            )
            assert job.job_id is not None
            done = workspace.jobs.run_now(job.job_id, idempotency_token="durable-1").result()
            pid_file.unlink()
            active = workspace.jobs.run_now(job.job_id, notebook_params={"seconds": "60"})
            task_pid, child_pid = map(int, wait_for_file(pid_file).split())
            server.send_signal(signal.SIGKILL)  # the backend dies with the run active
            server.wait()
            assert not process_is_gone(task_pid) and not process_is_gone(child_pid)

        with standalone(data_dir) as (url, _server):
            # The restarted backend killed what the dead one orphaned, child included.
            deadline = time.monotonic() + 5
            while not (process_is_gone(task_pid) and process_is_gone(child_pid)):
                assert time.monotonic() < deadline, "orphaned task processes still run"
                time.sleep(0.02)

            workspace = WorkspaceClient(host=url, token=TOKEN)
            assert workspace.jobs.get(job.job_id).settings is not None
            again = workspace.jobs.get_run(done.run_id or 0)
            assert (
                again.state is not None
                and again.state.result_state == sdk_jobs.RunResultState.SUCCESS
            )
            # the token still names its run after the restart
            assert (
                workspace.jobs.run_now(job.job_id, idempotency_token="durable-1").run_id
                == done.run_id
            )
            died = workspace.jobs.get_run(active.run_id)
            assert died.state is not None
            assert died.state.life_cycle_state == sdk_jobs.RunLifeCycleState.INTERNAL_ERROR
            assert died.state.result_state == sdk_jobs.RunResultState.FAILED
            assert "stopped while this run was active" in (died.state.state_message or "")
            assert died.status is not None and died.status.termination_details is not None
            assert (
                died.status.termination_details.code == sdk_jobs.TerminationCodeCode.INTERNAL_ERROR
            )
            assert died.tasks and died.tasks[0].state is not None
            assert died.tasks[0].state.life_cycle_state == sdk_jobs.RunLifeCycleState.INTERNAL_ERROR
            assert [
                r.run_id for r in workspace.jobs.list_runs(job_id=job.job_id, active_only=True)
            ] == []
            # new ids never collide with the old ones
            newer = workspace.jobs.run_now(job.job_id)
            assert newer.run_id > max(active.run_id, done.run_id or 0)
            newer.result()
    finally:
        if task_pid and not process_is_gone(task_pid):  # orphaned by the SIGKILL above
            with contextlib.suppress(ProcessLookupError):
                os.killpg(task_pid, signal.SIGKILL)


def test_task_arrays_over_100_are_paged_in_jobs_get_and_runs_get(jobs: Jobs) -> None:
    tasks = [
        {"task_key": f"t{index:03}", "disabled": True, "notebook_task": {"notebook_path": "/x"}}
        for index in range(130)
    ]
    job_id = jobs.create(*tasks)
    first = jobs.call("GET", "get", params={"job_id": job_id})
    assert len(first["settings"]["tasks"]) == 100 and first["has_more"] is True
    rest = jobs.call(
        "GET", "get", params={"job_id": job_id, "page_token": first["next_page_token"]}
    )
    assert [t["task_key"] for t in rest["settings"]["tasks"]] == [
        f"t{i:03}" for i in range(100, 130)
    ]
    assert "next_page_token" not in rest

    run = jobs.wait(jobs.run_now(job_id))
    assert run["state"]["result_state"] == "SUCCESS" and len(run["tasks"]) == 100
    page_two = jobs.call(
        "GET", "runs/get", params={"run_id": run["run_id"], "page_token": run["next_page_token"]}
    )
    assert len(page_two["tasks"]) == 30
    assert {t["state"]["result_state"] for t in run["tasks"] + page_two["tasks"]} == {"DISABLED"}

"""runs/cancel within a second, and runs/cancel-all: every run of a job, or only the queued."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.databricks.local.conftest import (
    TERMINAL,
    WAIT_FOR_RELEASE,
    Jobs,
    notebook_task,
    task_results,
    task_states,
)

# The issue: "cancel kills the processes within a second".
CANCEL_DEADLINE_SECONDS = 1.0


def test_a_cancelled_run_is_terminal_within_a_second(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    gated = notebook("gated", WAIT_FOR_RELEASE)
    job_id = jobs.create(
        notebook_task("a", gated, params={"gate_dir": str(tmp_path), "name": "a"}),
        notebook_task("b", gated, params={"gate_dir": str(tmp_path), "name": "b"}),
        notebook_task("after", gated, depends_on=("a", "b")),
    )
    run_id = jobs.run_now(job_id)
    jobs.wait_until(run_id, lambda run: task_states(run)["a"] == task_states(run)["b"] == "RUNNING")

    started = time.monotonic()
    jobs.call("POST", "runs/cancel", json={"run_id": run_id})
    while (run := jobs.get(run_id))["state"]["life_cycle_state"] not in TERMINAL:
        time.sleep(0.01)
    elapsed = time.monotonic() - started

    # Measured: 0.04-0.1 s on 2 busy cores (load 5); the deadline is the issue's own.
    assert elapsed < CANCEL_DEADLINE_SECONDS, f"terminal {elapsed:.3f} s after the cancel"
    assert run["state"]["result_state"] == "CANCELED"
    assert task_results(run) == {"a": "CANCELED", "b": "CANCELED", "after": "UPSTREAM_CANCELED"}
    assert not (tmp_path / "release").exists()  # the tasks were killed, not released


def test_cancel_all_cancels_the_queued_runs_or_every_run_of_a_job(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    gated = notebook("gated", WAIT_FOR_RELEASE)
    job_id = jobs.create(
        notebook_task("t", gated, params={"gate_dir": str(tmp_path), "name": "t"}),
        max_concurrent_runs=1,
    )
    running = jobs.run_now(job_id)
    jobs.wait_until(running, lambda run: task_states(run)["t"] == "RUNNING")
    queued = jobs.run_now(job_id)
    assert jobs.get(queued)["state"]["life_cycle_state"] == "QUEUED"

    jobs.call("POST", "runs/cancel-all", json={"all_queued_runs": True})
    cancelled = jobs.wait(queued, timeout=5)
    assert cancelled["state"]["result_state"] == "CANCELED"
    assert cancelled["status"]["termination_details"]["code"] == "USER_CANCELED"
    assert jobs.get(running)["state"]["life_cycle_state"] == "RUNNING"  # not queued: kept

    queued_again = jobs.run_now(job_id)
    assert jobs.get(queued_again)["state"]["life_cycle_state"] == "QUEUED"
    jobs.call("POST", "runs/cancel-all", json={"job_id": job_id})
    for run_id in (running, queued_again):
        run = jobs.wait(run_id, timeout=5)
        assert run["state"]["result_state"] == "CANCELED", run_id
    # Cancelled in the queue: the running run's end did not start it on the way out.
    assert jobs.get(queued_again)["tasks"] == []

    unknown = jobs.client.post("/api/2.2/jobs/runs/cancel-all", json={"job_id": 1})
    assert unknown.status_code == 400
    assert unknown.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "Job 1 does not exist.",
    }
    neither = jobs.client.post("/api/2.2/jobs/runs/cancel-all", json={})
    assert neither.status_code == 400
    assert neither.json()["error_code"] == "INVALID_PARAMETER_VALUE"

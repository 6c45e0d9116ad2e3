"""Task graphs on the local backend: parallel branches, failure propagation, run_if, outcome."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.databricks.local.conftest import (
    WAIT_FOR_RELEASE,
    Jobs,
    notebook_task,
    start_backend,
    task_of,
    task_results,
    task_states,
)

OK = "print('ok')"


def test_independent_branches_run_in_parallel_and_dependents_wait(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    gated = notebook("gated", WAIT_FOR_RELEASE)
    ok = notebook("ok", OK)
    job_id = jobs.create(
        notebook_task("root", ok),
        notebook_task("left", gated, depends_on=("root",), params={"name": "left"}),
        notebook_task("right", gated, depends_on=("root",), params={"name": "right"}),
        notebook_task("join", ok, depends_on=("left", "right")),
    )
    run_id = jobs.run_now(job_id, notebook_params={"gate_dir": str(tmp_path)})

    both_running = jobs.wait_until(
        run_id,
        lambda run: (
            task_states(run)["left"] == "RUNNING" and task_states(run)["right"] == "RUNNING"
        ),
    )
    assert both_running["state"]["life_cycle_state"] == "RUNNING"
    assert task_states(both_running)["root"] == "TERMINATED"
    assert task_states(both_running)["join"] == "BLOCKED"
    assert both_running["status"]["state"] == "RUNNING"

    (tmp_path / "release").write_text("go")
    run = jobs.wait(run_id)
    assert run["state"]["result_state"] == "SUCCESS"
    assert set(task_results(run).values()) == {"SUCCESS"}
    join = task_of(run, "join")
    assert join["start_time"] >= max(task_of(run, k)["end_time"] for k in ("left", "right"))
    assert run["end_time"] >= join["end_time"] > 0


def test_a_failed_task_fails_its_dependents_and_the_run(
    jobs: Jobs, notebook: Callable[..., str]
) -> None:
    bad = notebook("bad", "print('reading rows')", "raise ValueError('bad row 7')")
    ok = notebook("ok", OK)
    job_id = jobs.create(
        notebook_task("extract", ok),
        notebook_task("transform", bad, depends_on=("extract",)),
        notebook_task("load", ok, depends_on=("transform",)),
        notebook_task("report", ok, depends_on=("load",)),
    )
    run = jobs.wait(jobs.run_now(job_id))

    assert run["state"]["result_state"] == "FAILED"
    assert run["status"]["termination_details"]["code"] == "RUN_EXECUTION_ERROR"
    assert "transform" in run["state"]["state_message"]
    assert task_results(run) == {
        "extract": "SUCCESS",
        "transform": "FAILED",
        "load": "UPSTREAM_FAILED",
        "report": "UPSTREAM_FAILED",
    }
    transform = task_of(run, "transform")
    assert transform["state"]["state_message"] == "ValueError: bad row 7"
    assert task_of(run, "load")["start_time"] == 0  # never started

    output = jobs.output(transform["run_id"])
    assert output["error"] == "ValueError: bad row 7"
    assert "raise ValueError('bad row 7')" in output["error_trace"]
    assert "reading rows" in output["logs"]
    assert output["metadata"]["run_id"] == transform["run_id"]
    assert output["metadata"]["job_run_id"] == run["run_id"]
    assert output["metadata"]["state"]["result_state"] == "FAILED"


def test_leaf_outcome_decides_the_run_and_run_if_is_honoured(
    jobs: Jobs, notebook: Callable[..., str]
) -> None:
    bad = notebook("bad", "raise RuntimeError('boom')")
    ok = notebook("ok", OK)
    job_id = jobs.create(
        notebook_task("flaky", bad),
        notebook_task("skipped", ok, depends_on=("flaky",)),
        notebook_task("cleanup", ok, depends_on=("flaky",), run_if="ALL_DONE"),
        notebook_task("on_failure", ok, depends_on=("flaky",), run_if="AT_LEAST_ONE_FAILED"),
        notebook_task("on_all_ok", ok, depends_on=("cleanup",), run_if="ALL_FAILED"),
        notebook_task("summary", ok, depends_on=("cleanup", "on_all_ok", "on_failure")),
    )
    run = jobs.wait(jobs.run_now(job_id))

    assert task_results(run) == {
        "flaky": "FAILED",
        "skipped": "UPSTREAM_FAILED",
        "cleanup": "SUCCESS",
        "on_failure": "SUCCESS",
        "on_all_ok": "EXCLUDED",
        "summary": "SUCCESS",
    }
    # "skipped" is a leaf that did not succeed.
    assert run["state"]["result_state"] == "FAILED"

    # The same graph without the failing leaf: every leaf succeeded.
    job_id = jobs.create(
        notebook_task("flaky", bad),
        notebook_task("cleanup", ok, depends_on=("flaky",), run_if="ALL_DONE"),
    )
    run = jobs.wait(jobs.run_now(job_id))
    assert run["state"]["result_state"] == "SUCCESS_WITH_FAILURES"
    assert run["status"]["termination_details"]["code"] == "SUCCESS_WITH_FAILURES"


def test_max_parallel_tasks_bounds_how_many_processes_run(tmp_path: Path) -> None:
    with start_backend(tmp_path / "backend", max_parallel_tasks=1) as backend:
        file = backend.config.workspace_dir / "Shared" / "slow.py"
        file.parent.mkdir(parents=True)
        file.write_text("# Databricks notebook source\nimport time\ntime.sleep(0.3)\n")
        with httpx.Client(base_url=backend.url, headers={"Authorization": "Bearer t"}) as client:
            jobs = Jobs(client)
            job_id = jobs.create(
                notebook_task("a", "/Shared/slow"), notebook_task("b", "/Shared/slow")
            )
            running_counts: list[int] = []

            def record(run: dict[str, Any]) -> bool:
                running_counts.append(list(task_states(run).values()).count("RUNNING"))
                return bool(run["state"]["life_cycle_state"] == "TERMINATED")

            run = jobs.wait_until(jobs.run_now(job_id), record)
            assert run["state"]["result_state"] == "SUCCESS"
            assert max(running_counts) == 1

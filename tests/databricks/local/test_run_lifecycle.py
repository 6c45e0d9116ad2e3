"""Cancel, retries, timeouts and max_concurrent_runs on the local backend."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests.databricks.local.conftest import (
    WAIT_FOR_RELEASE,
    Jobs,
    RunningBackend,
    attempts_of,
    notebook_task,
    process_is_gone,
    task_of,
    task_results,
    task_states,
    wait_for_file,
)

SPAWN_AND_SLEEP = """
import os, subprocess, time
gate = dbutils.widgets.get("gate_dir")
child = subprocess.Popen(["sleep", "300"])
open(os.path.join(gate, "pids.tmp"), "w").write(f"{os.getpid()} {child.pid}")
os.replace(os.path.join(gate, "pids.tmp"), os.path.join(gate, "pids"))
time.sleep(300)
"""


def test_cancel_kills_the_process_group_and_cancels_what_did_not_start(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    sleeper = notebook("sleeper", SPAWN_AND_SLEEP)
    ok = notebook("ok", "print('never')")
    job_id = jobs.create(
        notebook_task("sleep", sleeper, params={"gate_dir": str(tmp_path)}),
        notebook_task("after", ok, depends_on=("sleep",)),
    )
    run_id = jobs.run_now(job_id)
    task_pid, child_pid = map(int, wait_for_file(tmp_path / "pids").split())
    assert not process_is_gone(task_pid) and not process_is_gone(child_pid)

    jobs.call("POST", "runs/cancel", json={"run_id": run_id})
    run = jobs.wait(run_id, timeout=10)

    assert run["state"]["result_state"] == "CANCELED"
    assert run["state"]["user_cancelled_or_timedout"] is True
    assert run["status"]["termination_details"]["code"] == "USER_CANCELED"
    assert task_results(run) == {"sleep": "CANCELED", "after": "UPSTREAM_CANCELED"}
    assert process_is_gone(task_pid)
    assert process_is_gone(child_pid)  # the notebook's own subprocess went with it

    # Cancelling a finished run is a no-op, as on Databricks.
    jobs.call("POST", "runs/cancel", json={"run_id": run_id})
    assert jobs.get(run_id)["state"]["result_state"] == "CANCELED"


def test_a_failed_attempt_is_retried_as_a_new_task_run(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path, local_backend: RunningBackend
) -> None:
    flaky = notebook(
        "flaky",
        "import os\n"
        "marker = os.path.join(dbutils.widgets.get('gate_dir'), 'failed-once')\n"
        "if not os.path.exists(marker):\n"
        "    open(marker, 'w').write('x')\n"
        "    raise ConnectionError('source not ready')\n"
        "dbutils.notebook.exit('second time lucky')",
    )
    job_id = jobs.create(
        notebook_task(
            "load",
            flaky,
            params={"gate_dir": str(tmp_path)},
            max_retries=2,
            min_retry_interval_millis=1000,
        )
    )
    run_id = jobs.run_now(job_id)

    waiting = jobs.wait_until(run_id, lambda run: task_states(run)["load"] == "WAITING_FOR_RETRY")
    retry = task_of(waiting, "load")
    assert retry["attempt_number"] == 1
    assert retry["status"]["state"] == "WAITING"
    assert waiting["state"]["life_cycle_state"] == "RUNNING"

    run = jobs.wait(run_id)
    assert run["state"]["result_state"] == "SUCCESS"
    first, final = attempts_of(run, "load")  # one task run per attempt, each with its own id
    assert final["run_id"] == retry["run_id"] != first["run_id"]
    assert final["state"]["result_state"] == "SUCCESS"
    assert first["state"]["result_state"] == "FAILED"
    assert jobs.output(final["run_id"])["notebook_output"]["result"] == "second time lucky"
    assert jobs.output(first["run_id"])["error"] == "ConnectionError: source not ready"
    # min_retry_interval_millis counts from the start of the failed attempt.
    assert final["start_time"] - first["start_time"] >= 1000

    # Identity: a retry's task run points at the first attempt; the job run at itself.
    retried = jobs.get(final["run_id"])
    assert (retried["attempt_number"], retried["original_attempt_run_id"]) == (1, first["run_id"])
    assert retried["job_run_id"] == run_id
    original = jobs.get(first["run_id"])
    assert (original["attempt_number"], original["original_attempt_run_id"]) == (0, first["run_id"])
    assert run["number_in_job"] == run["original_attempt_run_id"] == run_id
    assert run["attempt_number"] == 0
    base = f"{local_backend.config.public_url}/?o={local_backend.config.workspace_id}"
    assert run["run_page_url"] == f"{base}#job/{job_id}/run/{run_id}"
    assert final["run_page_url"] == f"{base}#job/{job_id}/run/{final['run_id']}"


def test_retries_run_out_and_the_run_fails(jobs: Jobs, notebook: Callable[..., str]) -> None:
    bad = notebook("always_bad", "raise KeyError('customer_id')")
    job_id = jobs.create(notebook_task("t", bad, max_retries=1))
    run = jobs.wait(jobs.run_now(job_id))
    assert run["state"]["result_state"] == "FAILED"
    assert [a["state"]["result_state"] for a in attempts_of(run, "t")] == ["FAILED", "FAILED"]
    assert task_of(run, "t")["attempt_number"] == 1
    assert task_of(run, "t")["state"]["state_message"] == "KeyError: 'customer_id'"


def test_task_timeout_kills_the_task_and_is_retried_only_when_asked(
    jobs: Jobs, notebook: Callable[..., str]
) -> None:
    slow = notebook("slow", "import time\ntime.sleep(60)")
    job_id = jobs.create(notebook_task("slow", slow, timeout_seconds=1, max_retries=3))
    run = jobs.wait(jobs.run_now(job_id), timeout=20)
    task = task_of(run, "slow")
    assert task["state"]["result_state"] == "TIMEDOUT"
    assert task["attempt_number"] == 0  # retry_on_timeout is false by default
    assert task["state"]["user_cancelled_or_timedout"] is True
    assert run["state"]["result_state"] == "TIMEDOUT"
    assert 1000 <= task["execution_duration"] < 10_000

    job_id = jobs.create(
        notebook_task("slow", slow, timeout_seconds=1, max_retries=1, retry_on_timeout=True)
    )
    run = jobs.wait(jobs.run_now(job_id), timeout=20)
    assert [a["state"]["result_state"] for a in attempts_of(run, "slow")] == ["TIMEDOUT"] * 2
    assert run["state"]["result_state"] == "TIMEDOUT"


def test_job_timeout_ends_the_run_timed_out(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    slow = notebook("slow", "import time\ntime.sleep(60)")
    ok = notebook("ok", "print('never')")
    job_id = jobs.create(
        notebook_task("slow", slow),
        notebook_task("next", ok, depends_on=("slow",)),
        timeout_seconds=1,
    )
    run = jobs.wait(jobs.run_now(job_id), timeout=20)
    assert run["state"]["result_state"] == "TIMEDOUT"
    assert run["state"]["user_cancelled_or_timedout"] is True
    assert task_results(run) == {"slow": "TIMEDOUT", "next": "UPSTREAM_CANCELED"}


def test_runs_over_max_concurrent_runs_queue_or_are_skipped(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    gated = notebook("gated", WAIT_FOR_RELEASE)
    task = notebook_task("t", gated, params={"gate_dir": str(tmp_path), "name": "t"})
    queued_job = jobs.create(task, max_concurrent_runs=1)
    first = jobs.run_now(queued_job)
    jobs.wait_until(first, lambda run: task_states(run)["t"] == "RUNNING")
    before_queueing = time.time() * 1000
    second = jobs.run_now(queued_job)
    after_queueing = time.time() * 1000
    queued = jobs.get(second)
    assert queued["state"]["life_cycle_state"] == "QUEUED"
    assert queued["status"]["queue_details"]["code"] == "MAX_CONCURRENT_RUNS_REACHED"
    dropped = jobs.run_now(queued_job)  # queued behind the second, then cancelled
    jobs.call("POST", "runs/cancel", json={"run_id": dropped})
    assert jobs.get(dropped)["state"]["result_state"] == "CANCELED"

    skipping_job = jobs.create(task, max_concurrent_runs=1, queue={"enabled": False})
    third = jobs.run_now(skipping_job)
    jobs.wait_until(third, lambda run: task_states(run)["t"] == "RUNNING")
    skipped = jobs.get(jobs.run_now(skipping_job))
    assert skipped["state"]["life_cycle_state"] == "SKIPPED"
    assert skipped["state"]["result_state"] == "MAXIMUM_CONCURRENT_RUNS_REACHED"

    (tmp_path / "release").write_text("go")
    for run_id in (first, second, third):
        assert jobs.wait(run_id)["state"]["result_state"] == "SUCCESS"
    assert jobs.get(second)["start_time"] <= task_of(jobs.get(second), "t")["start_time"]
    assert task_of(jobs.get(second), "t")["start_time"] >= task_of(jobs.get(first), "t")["end_time"]
    # queue_duration: from when it was queued to its start (when the first run ended).
    waited = jobs.get(second)
    assert waited["queue_duration"] > 0
    queued_at = waited["start_time"] - waited["queue_duration"]
    assert before_queueing - 1 <= queued_at <= after_queueing + 1
    assert jobs.get(first)["queue_duration"] == 0  # never queued

"""timeout_seconds and retries on the control tasks themselves: for_each_task (its
iterations) and run_job_task (its child run), as Databricks treats any task."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.databricks.local.conftest import (
    Jobs,
    attempts_of,
    notebook_task,
    process_is_gone,
    wait_for_file,
)

# An iteration that records its pid, then sleeps far past the timeouts below.
SLEEPER = (
    "import os, time\n"
    "open(os.path.join(dbutils.widgets.get('out'), dbutils.widgets.get('item') + '.pid'), 'w')"
    ".write(str(os.getpid()))\n"
    "time.sleep(30)"
)


def test_for_each_task_past_its_timeout_ends_timed_out_and_retries_on_timeout(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    worker = notebook("sleeper", SLEEPER)
    job_id = jobs.create(
        {
            "task_key": "each",
            "timeout_seconds": 1,
            "max_retries": 1,
            "retry_on_timeout": True,
            "for_each_task": {
                "inputs": '["a", "b"]',
                "concurrency": 1,
                "task": notebook_task(
                    "each_item", worker, params={"item": "{{input}}", "out": str(tmp_path)}
                ),
            },
        }
    )
    run = jobs.wait(jobs.run_now(job_id), timeout=20)
    assert run["state"]["result_state"] == "TIMEDOUT", run
    attempts = attempts_of(run, "each")
    assert [a["attempt_number"] for a in attempts] == [0, 1]
    assert [a["state"]["result_state"] for a in attempts] == ["TIMEDOUT", "TIMEDOUT"]
    assert "timed out after 1 seconds" in attempts[0]["state"]["state_message"]
    for attempt in attempts:
        stats = attempt["for_each_task"]["stats"]["task_run_stats"]
        # concurrency 1: the second item never started before the timeout
        assert stats["total_iterations"] == 2 and stats["scheduled_iterations"] == 1
        (iteration,) = jobs.get(attempt["run_id"])["iterations"]
        assert iteration["state"]["result_state"] == "TIMEDOUT"
        assert iteration["attempt_number"] == 0  # the iteration itself is not retried
    # each attempt of the for-each task ran its iterations anew; the processes are gone
    pid = int(wait_for_file(tmp_path / "a.pid"))
    assert process_is_gone(pid)


def test_for_each_task_is_retried_as_a_whole_per_its_max_retries(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    # Item "b" fails on the for-each task's first attempt only (a marker file).
    worker = notebook(
        "flaky_item",
        "import os\n"
        "item, out = dbutils.widgets.get('item'), dbutils.widgets.get('out')\n"
        "open(os.path.join(out, item + '.runs'), 'a').write('x')\n"
        "marker = os.path.join(out, 'failed-once')\n"
        "if item == 'b' and not os.path.exists(marker):\n"
        "    open(marker, 'w').write('yes')\n"
        "    raise ValueError('first time')",
    )
    job_id = jobs.create(
        {
            "task_key": "each",
            "max_retries": 1,
            "for_each_task": {
                "inputs": '["a", "b"]',
                "task": notebook_task(
                    "each_item", worker, params={"item": "{{input}}", "out": str(tmp_path)}
                ),
            },
        }
    )
    run = jobs.wait(jobs.run_now(job_id), timeout=30)
    assert run["state"]["result_state"] == "SUCCESS", run
    attempts = attempts_of(run, "each")
    assert [a["state"]["result_state"] for a in attempts] == ["FAILED", "SUCCESS"]
    assert attempts[0]["state"]["state_message"].startswith("1 of 2 iterations failed")
    retried = jobs.get(attempts[1]["run_id"])["iterations"]
    assert [it["state"]["result_state"] for it in retried] == ["SUCCESS", "SUCCESS"]
    first_ids = {it["run_id"] for it in jobs.get(attempts[0]["run_id"])["iterations"]}
    assert first_ids.isdisjoint(it["run_id"] for it in retried)
    # the new attempt re-ran every iteration, the one that had succeeded too
    assert (tmp_path / "a.runs").read_text() == "xx"
    assert (tmp_path / "b.runs").read_text() == "xx"


def test_run_job_task_past_its_timeout_cancels_its_child_run(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    child_job = jobs.create(
        notebook_task(
            "sleep",
            notebook("child_sleeper", SLEEPER),
            params={"item": "child", "out": str(tmp_path)},
        ),
        name="slow-child",
    )
    job_id = jobs.create(
        {"task_key": "call", "timeout_seconds": 1, "run_job_task": {"job_id": child_job}},
        name="impatient-parent",
    )
    run = jobs.wait(jobs.run_now(job_id), timeout=20)
    assert run["state"]["result_state"] == "TIMEDOUT", run
    (call,) = attempts_of(run, "call")  # retry_on_timeout is false by default
    assert call["state"]["result_state"] == "TIMEDOUT"
    assert call["status"]["termination_details"]["code"] == "CANCELED"
    child_run_id = jobs.output(call["run_id"])["run_job_output"]["run_id"]
    child = jobs.get(child_run_id)
    assert child["state"]["life_cycle_state"] == "TERMINATED"
    assert child["state"]["result_state"] == "CANCELED"
    assert child["state"]["state_message"] == (
        "Cancelled: run_job_task call timed out after 1 seconds."
    )
    assert [t["state"]["result_state"] for t in child["tasks"]] == ["CANCELED"]

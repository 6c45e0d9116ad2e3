"""One case per Jobs API semantic: a job, run to its end, and the exact state fields a
workspace reports for the run and each task (life cycle, result, termination code/type),
and how many attempts each task made.

Tasks are tiny notebooks (``ok``, ``fail``, ``slow``, ``flaky``: fails its first attempt
only, ``sleepy``: sleeps its ``sleep`` widget, ``expect``: succeeds only when its ``p``
widget is ``winner``) or control tasks that start no process, so most cases cost a few
hundred milliseconds. ``@job:ok`` in a run_job_task is a job made for the case. A case's
``action`` acts on the run while or after it runs (cancel it, run the job again, repair
it) and may name another run to check (the second run of a job at its limit).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.databricks.local.conftest import TERMINAL, Jobs, attempts_of, task_of, task_states

Task = dict[str, Any]
# task_key -> (life_cycle_state, result_state, termination code)
Expected = dict[str, tuple[str, str, str]]
# (jobs, job_id, run_id) -> the run whose end the case checks (None: that run)
Action = Callable[[Jobs, int, int], int | None]


def nb(
    key: str, which: str, *deps: str, params: dict[str, str] | None = None, **extra: Any
) -> Task:
    body = {"notebook_path": f"@{which}", "base_parameters": params or {}}
    task: Task = {"task_key": key, "notebook_task": body, **extra}
    if deps:
        task["depends_on"] = [{"task_key": dep} for dep in deps]
    return task


def condition(key: str, op: str, left: str, right: str, *deps: str) -> Task:
    task: Task = {"task_key": key, "condition_task": {"op": op, "left": left, "right": right}}
    if deps:
        task["depends_on"] = [{"task_key": dep} for dep in deps]
    return task


def on(key: str, which: str, cond: str, outcome: str, **extra: Any) -> Task:
    return nb(key, which, **extra) | {"depends_on": [{"task_key": cond, "outcome": outcome}]}


OK_END = ("TERMINATED", "SUCCESS", "SUCCESS")
FAILED_END = ("TERMINATED", "FAILED", "RUN_EXECUTION_ERROR")
UPSTREAM_FAILED = ("TERMINATED", "UPSTREAM_FAILED", "SKIPPED")
UPSTREAM_CANCELED = ("TERMINATED", "UPSTREAM_CANCELED", "SKIPPED")
EXCLUDED = ("TERMINATED", "EXCLUDED", "SKIPPED")
TIMED_OUT = ("TERMINATED", "TIMEDOUT", "CANCELED")
RUN_OK = ("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS")
RUN_FAILED = ("TERMINATED", "FAILED", "RUN_EXECUTION_ERROR", "CLIENT_ERROR")


@dataclass(frozen=True)
class Case:
    name: str
    tasks: list[Task]
    run: tuple[str, str, str, str]  # life_cycle_state, result_state, code, type
    tasks_expected: Expected
    settings: dict[str, Any] = field(default_factory=dict)
    run_now: dict[str, Any] = field(default_factory=dict)  # fields of the first run-now
    action: Action | None = None
    attempts: dict[str, int] = field(default_factory=dict)  # task_key -> count (default 1)


def cancel_once_running(key: str) -> Action:
    def action(jobs: Jobs, job_id: int, run_id: int) -> None:
        jobs.wait_until(run_id, lambda run: task_states(run)[key] == "RUNNING")
        jobs.call("POST", "runs/cancel", json={"run_id": run_id})

    return action


def run_again_while_running(expected_state: str) -> Action:
    """A second run-now while the first runs; the first is then cancelled."""

    def action(jobs: Jobs, job_id: int, run_id: int) -> int:
        jobs.wait_until(run_id, lambda run: task_states(run)["t"] == "RUNNING")
        second = jobs.run_now(job_id)
        assert jobs.get(second)["state"]["life_cycle_state"] == expected_state
        jobs.call("POST", "runs/cancel", json={"run_id": run_id})
        return second

    return action


def run_now_with_the_same_token(token: str) -> Action:
    def action(jobs: Jobs, job_id: int, run_id: int) -> None:
        again = jobs.call("POST", "run-now", json={"job_id": job_id, "idempotency_token": token})
        assert again["run_id"] == run_id

    return action


def repair_failed_tasks(jobs: Jobs, job_id: int, run_id: int) -> None:
    failed = jobs.wait(run_id)
    assert failed["state"]["result_state"] == "FAILED"
    jobs.call("POST", "runs/repair", json={"run_id": run_id, "rerun_all_failed_tasks": True})


def at_most_active_iterations(limit: int) -> Action:
    """Watches the for-each task "each" until the run ends: never more than ``limit``
    iterations active at once, and ``limit`` at some point."""

    def action(jobs: Jobs, job_id: int, run_id: int) -> None:
        seen: set[int] = set()
        while (run := jobs.get(run_id))["state"]["life_cycle_state"] not in TERMINAL:
            stats = task_of(run, "each").get("for_each_task", {}).get("stats", {})
            seen.add(stats.get("task_run_stats", {}).get("active_iterations", 0))
            time.sleep(0.02)
        assert max(seen) == limit, seen

    return action


IDEMPOTENCY_TOKEN = f"semantics-{uuid.uuid4()}"
SLEEP = {"parameters": [{"name": "sleep", "default": "0"}]}


CASES = [
    Case(
        "all succeed",
        [nb("a", "ok"), nb("b", "ok", "a")],
        ("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS"),
        {"a": OK_END, "b": OK_END},
    ),
    Case(
        "a leaf fails -> FAILED",
        [nb("a", "ok"), nb("b", "fail", "a")],
        ("TERMINATED", "FAILED", "RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        {"a": OK_END, "b": FAILED_END},
    ),
    Case(
        "a failure but every leaf succeeds -> SUCCESS_WITH_FAILURES",
        [nb("a", "fail"), nb("cleanup", "ok", "a", run_if="ALL_DONE")],
        ("TERMINATED", "SUCCESS_WITH_FAILURES", "SUCCESS_WITH_FAILURES", "SUCCESS"),
        {"a": FAILED_END, "cleanup": OK_END},
    ),
    Case(
        "run_if: the six values after one failed and one good upstream",
        [
            nb("good", "ok"),
            nb("bad", "fail"),
            *(
                nb(f"{value.lower()}", "ok", "good", "bad", run_if=value)
                for value in (
                    "ALL_SUCCESS",
                    "AT_LEAST_ONE_SUCCESS",
                    "NONE_FAILED",
                    "ALL_DONE",
                    "AT_LEAST_ONE_FAILED",
                    "ALL_FAILED",
                )
            ),
        ],
        ("TERMINATED", "FAILED", "RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        {
            "all_success": UPSTREAM_FAILED,
            "at_least_one_success": OK_END,
            "none_failed": UPSTREAM_FAILED,
            "all_done": OK_END,
            "at_least_one_failed": OK_END,
            "all_failed": EXCLUDED,
        },
    ),
    Case(
        "condition_task: the branch not taken and what follows it are EXCLUDED",
        [
            condition("is_big", "GREATER_THAN", "{{job.parameters.rows}}", "100"),
            on("big", "ok", "is_big", "true"),
            on("small", "ok", "is_big", "false"),
            nb("after_small", "ok", "small"),
        ],
        ("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS"),
        {"is_big": OK_END, "big": OK_END, "small": EXCLUDED, "after_small": EXCLUDED},
        {"parameters": [{"name": "rows", "default": "250"}]},
    ),
    Case(
        "condition_task: EQUAL_TO compares strings, so 12.0 != 12",
        [condition("same", "EQUAL_TO", "12.0", "12"), on("yes", "ok", "same", "true")],
        ("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS"),
        {"same": OK_END, "yes": EXCLUDED},
    ),
    Case(
        "condition_task: a numeric op on text fails the task",
        [condition("cmp", "LESS_THAN", "abc", "1")],
        ("TERMINATED", "FAILED", "RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        {"cmp": FAILED_END},
    ),
    Case(
        "a disabled task counts as success",
        [nb("off", "fail", disabled=True), nb("next", "ok", "off")],
        ("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS"),
        {"off": ("TERMINATED", "DISABLED", "DISABLED"), "next": OK_END},
    ),
    Case(
        "task timeout_seconds -> TIMEDOUT, not retried without retry_on_timeout",
        [nb("slow", "slow", timeout_seconds=1, max_retries=1)],
        ("TERMINATED", "TIMEDOUT", "RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        {"slow": TIMED_OUT},
    ),
    Case(
        "retry_on_timeout: a timed-out attempt is retried",
        [nb("slow", "slow", timeout_seconds=1, max_retries=1, retry_on_timeout=True)],
        ("TERMINATED", "TIMEDOUT", "RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        {"slow": TIMED_OUT},
        attempts={"slow": 2},
    ),
    Case(
        "retries: a failed attempt is retried and the retry succeeds",
        [nb("flaky", "flaky", max_retries=2), nb("after", "ok", "flaky")],
        RUN_OK,
        {"flaky": OK_END, "after": OK_END},
        attempts={"flaky": 2},
    ),
    Case(
        "retries run out -> FAILED after max_retries + 1 attempts",
        [nb("bad", "fail", max_retries=2)],
        RUN_FAILED,
        {"bad": FAILED_END},
        attempts={"bad": 3},
    ),
    Case(
        "cancel: the running task is cancelled, what had not started UPSTREAM_CANCELED",
        [nb("slow", "slow"), nb("after", "ok", "slow")],
        ("TERMINATED", "CANCELED", "USER_CANCELED", "SUCCESS"),
        {"slow": ("TERMINATED", "CANCELED", "USER_CANCELED"), "after": UPSTREAM_CANCELED},
        action=cancel_once_running("slow"),
    ),
    Case(
        "max_concurrent_runs without a queue: the second run is SKIPPED",
        [nb("t", "sleepy")],
        (
            "SKIPPED",
            "MAXIMUM_CONCURRENT_RUNS_REACHED",
            "MAX_CONCURRENT_RUNS_EXCEEDED",
            "CLIENT_ERROR",
        ),
        {},
        {"max_concurrent_runs": 1, "queue": {"enabled": False}, **SLEEP},
        run_now={"job_parameters": {"sleep": "30"}},
        action=run_again_while_running("SKIPPED"),
    ),
    Case(
        "max_concurrent_runs with the queue: the second run waits, then runs",
        [nb("t", "sleepy")],
        RUN_OK,
        {"t": OK_END},
        {"max_concurrent_runs": 1, **SLEEP},
        run_now={"job_parameters": {"sleep": "30"}},
        action=run_again_while_running("QUEUED"),
    ),
    Case(
        "idempotency_token: the same token is the same run",
        [nb("t", "ok")],
        RUN_OK,
        {"t": OK_END},
        run_now={"idempotency_token": IDEMPOTENCY_TOKEN},
        action=run_now_with_the_same_token(IDEMPOTENCY_TOKEN),
    ),
    Case(
        "repair: failed and upstream-failed tasks rerun as new attempts",
        [nb("first", "ok"), nb("flaky", "flaky", "first"), nb("last", "ok", "flaky")],
        RUN_OK,
        {"first": OK_END, "flaky": OK_END, "last": OK_END},
        action=repair_failed_tasks,
        attempts={"flaky": 2, "last": 2},
    ),
    Case(
        "run_job_task: ends with its child run's result",
        [
            {"task_key": "child", "run_job_task": {"job_id": "@job:ok"}},
            {"task_key": "failing_child", "run_job_task": {"job_id": "@job:fail"}},
        ],
        RUN_FAILED,
        {"child": OK_END, "failing_child": FAILED_END},
    ),
    Case(
        "parameters: run-now notebook_params win over the task's base_parameters",
        [nb("t", "expect", params={"p": "task"})],
        RUN_OK,
        {"t": OK_END},
        run_now={"notebook_params": {"p": "winner"}},
    ),
    Case(
        "parameters: job parameters (run-now values over defaults) win over base_parameters",
        [nb("t", "expect", params={"p": "task"})],
        RUN_OK,
        {"t": OK_END},
        {"parameters": [{"name": "p", "default": "job-default"}]},
        run_now={"job_parameters": {"p": "winner"}},
    ),
    Case(
        "for_each_task: at most `concurrency` iterations at once",
        [
            {
                "task_key": "each",
                "for_each_task": {
                    "inputs": "[0.3, 0.3, 0.3, 0.3]",
                    "concurrency": 2,
                    "task": nb("each_item", "sleepy", params={"sleep": "{{input}}"}),
                },
            }
        ],
        RUN_OK,
        {"each": OK_END},
        action=at_most_active_iterations(2),
    ),
    Case(
        "run timeout_seconds cancels what runs -> TIMEDOUT",
        [nb("slow", "slow"), nb("never", "ok", "slow")],
        ("TERMINATED", "TIMEDOUT", "CANCELED", "CLIENT_ERROR"),
        {
            "slow": ("TERMINATED", "TIMEDOUT", "CANCELED"),
            "never": ("TERMINATED", "UPSTREAM_CANCELED", "SKIPPED"),
        },
        {"timeout_seconds": 1},
    ),
    Case(
        "for_each_task: every iteration succeeds",
        [
            {
                "task_key": "each",
                "for_each_task": {
                    "inputs": '["a", "b", {"n": 3}]',
                    "concurrency": 2,
                    "task": nb("each_item", "ok"),
                },
            }
        ],
        ("TERMINATED", "SUCCESS", "SUCCESS", "SUCCESS"),
        {"each": OK_END},
    ),
    Case(
        "for_each_task: a failed iteration fails the loop",
        [
            {
                "task_key": "each",
                "for_each_task": {"inputs": "[1, 2]", "task": nb("each_item", "fail")},
            }
        ],
        ("TERMINATED", "FAILED", "RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        {"each": FAILED_END},
    ),
]


@pytest.fixture
def materialise(
    notebook: Callable[..., str], jobs: Jobs, tmp_path: Path
) -> Callable[[list[Task]], list[Task]]:
    marker = tmp_path / "failed-once"
    paths = {
        "ok": notebook("ok", "print('ok')"),
        "fail": notebook("fail", "raise ValueError('boom')"),
        "slow": notebook("slow", "import time\ntime.sleep(30)"),
        "flaky": notebook(
            "flaky",
            f"import pathlib\nmarker = pathlib.Path({str(marker)!r})\n"
            "if not marker.exists():\n"
            "    marker.write_text('x')\n"
            "    raise ConnectionError('first attempt fails')",
        ),
        "sleepy": notebook(
            "sleepy", "import time\ntime.sleep(float(dbutils.widgets.get('sleep')))"
        ),
        "expect": notebook("expect", "p = dbutils.widgets.get('p')\nassert p == 'winner', p"),
    }
    child_jobs: dict[str, int] = {}

    def child_job(which: str) -> int:
        if which not in child_jobs:
            child = {"task_key": "only", "notebook_task": {"notebook_path": paths[which]}}
            child_jobs[which] = jobs.create(child, name=f"child-{which}")
        return child_jobs[which]

    def replace(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: replace(item) for key, item in value.items()}
        if isinstance(value, list):
            return [replace(item) for item in value]
        if isinstance(value, str) and value.startswith("@job:"):
            return child_job(value.removeprefix("@job:"))
        if isinstance(value, str) and value.startswith("@"):
            return paths[value[1:]]
        return value

    return lambda tasks: [replace(task) for task in tasks]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_semantics(case: Case, jobs: Jobs, materialise: Callable[[list[Task]], list[Task]]) -> None:
    job_id = jobs.create(*materialise(case.tasks), **case.settings)
    run_id = jobs.run_now(job_id, **case.run_now)
    if case.action is not None:
        run_id = case.action(jobs, job_id, run_id) or run_id
    run = jobs.wait(run_id)

    state, status = run["state"], run["status"]
    details = status["termination_details"]
    assert (
        state["life_cycle_state"],
        state["result_state"],
        details["code"],
        details["type"],
    ) == case.run, run
    assert status["state"] == "TERMINATED"
    assert run["end_time"] >= run["start_time"] > 0
    assert run["run_duration"] == run["end_time"] - run["start_time"]
    for key, (life_cycle, result, code) in case.tasks_expected.items():
        task = task_of(run, key)
        got = (
            task["state"]["life_cycle_state"],
            task["state"]["result_state"],
            task["status"]["termination_details"]["code"],
        )
        assert got == (life_cycle, result, code), (key, task)
        assert task["run_id"] != run["run_id"]  # every task run has a run id of its own
        assert len(attempts_of(run, key)) == case.attempts.get(key, 1), key

"""One case per Jobs API semantic: a job, run to its end, and the exact state fields a
workspace reports for the run and each task (life cycle, result, termination code/type).

Tasks are tiny notebooks (``ok``, ``fail``, ``slow``) or control tasks that start no
process, so each case costs a few hundred milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.databricks.local.conftest import Jobs, attempts_of, task_of

Task = dict[str, Any]
# task_key -> (life_cycle_state, result_state, termination code)
Expected = dict[str, tuple[str, str, str]]


def nb(key: str, which: str, *deps: str, **extra: Any) -> Task:
    task: Task = {"task_key": key, "notebook_task": {"notebook_path": f"@{which}"}, **extra}
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
EXCLUDED = ("TERMINATED", "EXCLUDED", "SKIPPED")


@dataclass(frozen=True)
class Case:
    name: str
    tasks: list[Task]
    run: tuple[str, str, str, str]  # life_cycle_state, result_state, code, type
    tasks_expected: Expected
    settings: dict[str, Any] = field(default_factory=dict)


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
        "task timeout_seconds -> TIMEDOUT",
        [nb("slow", "slow", timeout_seconds=1)],
        ("TERMINATED", "TIMEDOUT", "RUN_EXECUTION_ERROR", "CLIENT_ERROR"),
        {"slow": ("TERMINATED", "TIMEDOUT", "CANCELED")},
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
def materialise(notebook: Callable[..., str]) -> Callable[[list[Task]], list[Task]]:
    paths = {
        "ok": notebook("ok", "print('ok')"),
        "fail": notebook("fail", "raise ValueError('boom')"),
        "slow": notebook("slow", "import time\ntime.sleep(30)"),
    }

    def replace(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: replace(item) for key, item in value.items()}
        if isinstance(value, list):
            return [replace(item) for item in value]
        if isinstance(value, str) and value.startswith("@"):
            return paths[value[1:]]
        return value

    return lambda tasks: [replace(task) for task in tasks]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_semantics(case: Case, jobs: Jobs, materialise: Callable[[list[Task]], list[Task]]) -> None:
    job_id = jobs.create(*materialise(case.tasks), **case.settings)
    run = jobs.wait(jobs.run_now(job_id))

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
        assert len(attempts_of(run, key)) == 1

from __future__ import annotations

from typing import Any

import pytest

from service.runs.drift import Drift, settings_drift

EXPECTED: dict[str, Any] = {
    "name": "etl",
    "timeout_seconds": 600,
    "tags": {"team": "data"},
    "tasks": [
        {"task_key": "a", "timeout_seconds": 60, "spark_python_task": {"parameters": ["x"]}},
        {"task_key": "b", "depends_on": [{"task_key": "a"}]},
    ],
}


def _actual(**changes: Any) -> dict[str, Any]:
    actual: dict[str, Any] = {
        "format": "MULTI_TASK",  # Databricks' own default: not drift
        "name": "etl",
        "timeout_seconds": 600,
        "tags": {"team": "data", "added_by_ops": "yes"},
        "tasks": [
            {"task_key": "b", "depends_on": [{"task_key": "a"}], "run_if": "ALL_SUCCESS"},
            {"task_key": "a", "timeout_seconds": 60, "spark_python_task": {"parameters": ["x"]}},
        ],
    }
    actual.update(changes)
    return actual


@pytest.mark.parametrize(
    ("actual", "expected_drift"),
    [
        (_actual(), []),
        (_actual(timeout_seconds=60), [Drift("$.timeout_seconds", 600, 60)]),
        (
            _actual(
                tasks=[
                    {
                        "task_key": "a",
                        "timeout_seconds": 5,
                        "spark_python_task": {"parameters": ["x"]},
                    }
                ]
            ),
            [
                Drift("$.tasks[task_key=a].timeout_seconds", 60, 5),
                Drift("$.tasks[task_key=b]", EXPECTED["tasks"][1], None),
            ],
        ),
        (
            _actual(tasks=[*_actual()["tasks"], {"task_key": "extra"}]),
            [Drift("$.tasks[task_key=extra]", None, {"task_key": "extra"})],
        ),
        (
            _actual(
                tasks=[
                    {
                        "task_key": "a",
                        "timeout_seconds": 60,
                        "spark_python_task": {"parameters": ["y"]},
                    },
                    {"task_key": "b", "depends_on": [{"task_key": "a"}]},
                ]
            ),
            [Drift("$.tasks[task_key=a].spark_python_task.parameters", ["x"], ["y"])],
        ),
        (_actual(tags={}), [Drift("$.tags.team", "data", None)]),
    ],
)
def test_only_what_lockgate_set_is_compared(
    actual: dict[str, Any], expected_drift: list[Drift]
) -> None:
    assert settings_drift(EXPECTED, actual) == expected_drift

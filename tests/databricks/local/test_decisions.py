"""Pure parts of the local backend, as tables: run_if decisions, the run outcome and
condition_task comparisons."""

from __future__ import annotations

import pytest

import service.databricks.local as local
from service.databricks.local._control_flow import ConditionError, evaluate_condition
from service.databricks.local._dag import (
    BlockedTaskDecision,
    decide_blocked_task,
    decide_run_termination,
)
from service.databricks.local._states import ResultState, RunIf
from service.databricks.local._task_settings import TaskKind, TaskSpec

S, F, X, C, UF = (
    ResultState.SUCCESS,
    ResultState.FAILED,
    ResultState.EXCLUDED,
    ResultState.CANCELED,
    ResultState.UPSTREAM_FAILED,
)
RUN, UPSTREAM_FAILED, UPSTREAM_CANCELED, EXCLUDED = (
    BlockedTaskDecision.RUN,
    BlockedTaskDecision.UPSTREAM_FAILED,
    BlockedTaskDecision.UPSTREAM_CANCELED,
    BlockedTaskDecision.EXCLUDED,
)


def test_public_names() -> None:
    assert sorted(local.__all__) == [
        "LocalBackendConfig",
        "create_local_backend",
        "seed_example",
        "serve_local_backend",
    ]


@pytest.mark.parametrize(
    ("run_if", "upstream", "decision"),
    [
        (RunIf.ALL_SUCCESS, [S, S], RUN),
        (RunIf.ALL_SUCCESS, [S, X], RUN),
        (RunIf.ALL_SUCCESS, [S, F], UPSTREAM_FAILED),
        (RunIf.ALL_SUCCESS, [S, UF], UPSTREAM_FAILED),
        (RunIf.ALL_SUCCESS, [C, F], UPSTREAM_CANCELED),
        (RunIf.NONE_FAILED, [S, F], UPSTREAM_FAILED),
        (RunIf.AT_LEAST_ONE_SUCCESS, [S, F], RUN),
        (RunIf.AT_LEAST_ONE_SUCCESS, [F, F], UPSTREAM_FAILED),
        (RunIf.ALL_DONE, [F, C], RUN),
        (RunIf.AT_LEAST_ONE_FAILED, [S, F], RUN),
        (RunIf.AT_LEAST_ONE_FAILED, [S, S], EXCLUDED),
        (RunIf.ALL_FAILED, [F, F], RUN),
        (RunIf.ALL_FAILED, [F, S], EXCLUDED),
    ],
)
def test_blocked_task_decisions(
    run_if: RunIf, upstream: list[ResultState], decision: BlockedTaskDecision
) -> None:
    assert decide_blocked_task(run_if, upstream) is decision


def _task(key: str, *depends_on: str) -> TaskSpec:
    return TaskSpec(
        task_key=key, kind=TaskKind.NOTEBOOK, type_field="notebook_task", depends_on=depends_on
    )


# a -> b -> d, a -> c (leaves: c, d)
GRAPH = [_task("a"), _task("b", "a"), _task("c", "a"), _task("d", "b")]


@pytest.mark.parametrize(
    ("results", "outcome"),
    [
        ({"a": S, "b": S, "c": S, "d": S}, ResultState.SUCCESS),
        ({"a": S, "b": F, "c": S, "d": S}, ResultState.SUCCESS_WITH_FAILURES),
        ({"a": S, "b": S, "c": F, "d": S}, ResultState.FAILED),
        ({"a": S, "b": F, "c": S, "d": UF}, ResultState.FAILED),
        ({"a": S, "b": ResultState.TIMEDOUT, "c": S, "d": UF}, ResultState.TIMEDOUT),
        ({"a": S, "b": S, "c": X, "d": S}, ResultState.SUCCESS),
    ],
)
def test_run_outcome_is_decided_by_leaf_tasks(
    results: dict[str, ResultState], outcome: ResultState
) -> None:
    termination = decide_run_termination(GRAPH, results, {"b": "ValueError: boom"})
    assert termination.result_state is outcome
    if outcome is ResultState.FAILED and results["b"] is F:
        assert termination.message == "Task b failed with message: ValueError: boom"


# condition_task: EQUAL_TO/NOT_EQUAL compare text, the four orderings compare numbers.
@pytest.mark.parametrize(
    ("op", "left", "right", "outcome"),
    [
        ("EQUAL_TO", "a", "a", True),
        ("EQUAL_TO", "a", "b", False),
        ("EQUAL_TO", "12.0", "12", False),  # as text: "12.0 == 12" is false
        ("EQUAL_TO", "", "", True),
        ("NOT_EQUAL", "12.0", "12", True),
        ("NOT_EQUAL", "x", "x", False),
        ("GREATER_THAN", "250", "100", True),
        ("GREATER_THAN", "12", "12", False),
        ("GREATER_THAN", "12.0", "12", False),  # as numbers they are equal
        ("GREATER_THAN", "9", "10", False),  # numbers: as text "9" > "10" would be true
        ("GREATER_THAN_OR_EQUAL", "12", "12", True),
        ("GREATER_THAN_OR_EQUAL", "12.0", "12", True),
        ("GREATER_THAN_OR_EQUAL", "11.99", "12", False),
        ("LESS_THAN", "-1", "0", True),
        ("LESS_THAN", "12", "12", False),
        ("LESS_THAN", "1e2", "101", True),
        ("LESS_THAN_OR_EQUAL", "12", "12.0", True),
        ("LESS_THAN_OR_EQUAL", "-0.5", "0", True),
        ("LESS_THAN_OR_EQUAL", "12.5", "12", False),
    ],
)
def test_condition_ops(op: str, left: str, right: str, outcome: bool) -> None:
    assert evaluate_condition(op, left, right) is outcome


@pytest.mark.parametrize(
    ("op", "left", "right", "side"),
    [
        ("GREATER_THAN", "abc", "1", "left"),
        ("GREATER_THAN_OR_EQUAL", "1", "", "right"),
        ("LESS_THAN", "nan", "1", "left"),
        ("LESS_THAN_OR_EQUAL", "1", "12,5", "right"),
    ],
)
def test_numeric_condition_ops_refuse_text(op: str, left: str, right: str, side: str) -> None:
    with pytest.raises(ConditionError, match=f"the {side} operand"):
        evaluate_condition(op, left, right)

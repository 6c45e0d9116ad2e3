"""Property: a random task graph is accepted exactly when it has no cycle, and every
reported cycle is a real one."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.workflows import WorkflowInvalid, parse_workflow
from tests.workflows.conftest import notebook, workflow

_CYCLE = re.compile(r"depends_on forms a cycle: (?P<cycle>.+?) \(each task")


@st.composite
def task_graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    size = draw(st.integers(min_value=1, max_value=9))
    names = [f"t{i}" for i in range(size)]
    edges = draw(
        st.sets(
            st.tuples(st.sampled_from(names), st.sampled_from(names)).filter(
                lambda e: e[0] != e[1]
            ),
            max_size=size * 2,
        )
    )
    return {name: sorted(target for source, target in edges if source == name) for name in names}


def _is_acyclic(graph: dict[str, list[str]]) -> bool:
    # Kahn's algorithm: an independent check, not the code under test.
    waiting = {name: len(deps) for name, deps in graph.items()}
    dependents: dict[str, list[str]] = {name: [] for name in graph}
    for name, deps in graph.items():
        for dep in deps:
            dependents[dep].append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    done = 0
    while ready:
        name = ready.pop()
        done += 1
        for dependent in dependents[name]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    return done == len(graph)


@settings(max_examples=300, deadline=None)
@given(task_graphs())
def test_random_task_graphs_are_accepted_exactly_when_acyclic(graph: dict[str, list[str]]) -> None:
    document = workflow(*(notebook(name, depends_on=deps) for name, deps in graph.items()))

    try:
        definition = parse_workflow(document)
    except WorkflowInvalid as invalid:
        assert not _is_acyclic(graph)
        assert invalid.errors
        for error in invalid.errors:
            match = _CYCLE.search(error.message)
            assert match is not None, error
            cycle = match["cycle"].split(" -> ")
            assert cycle[0] == cycle[-1]
            assert all(b in graph[a] for a, b in itertools.pairwise(cycle))
            located = re.fullmatch(r"\$\.tasks\[(\d+)\]\.depends_on\[(\d+)\]", error.path)
            assert located is not None, error.path
            task, position = located.groups()
            assert list(graph)[int(task)] == cycle[0]
            assert graph[cycle[0]][int(position)] == cycle[1]
    else:
        assert _is_acyclic(graph)
        sent = {
            task["task_key"]: task.get("depends_on", [])
            for task in definition.to_job_settings()["tasks"]
        }
        assert sent == {name: [{"task_key": dep} for dep in deps] for name, deps in graph.items()}


def test_a_long_chain_is_accepted_and_a_long_cycle_is_named() -> None:
    # 1,000 tasks (the Databricks maximum) must not hit Python's recursion limit.
    chain = [notebook("t0")] + [notebook(f"t{i}", depends_on=[f"t{i - 1}"]) for i in range(1, 1000)]
    assert len(parse_workflow(workflow(*chain)).task_keys) == 1000

    chain[0] = notebook("t0", depends_on=["t999"])
    with pytest.raises(WorkflowInvalid) as caught:
        parse_workflow(workflow(*chain))

    (error,) = caught.value.errors
    assert error.path == "$.tasks[0].depends_on[0]"
    assert "t0 -> t999 -> t998" in error.message


@settings(max_examples=200, deadline=None)
@given(task_graphs())
def test_jobs_json_task_graphs_are_accepted_exactly_when_acyclic(
    graph: dict[str, list[str]],
) -> None:
    from service.workflows import parse_job_settings

    document = {
        "name": "graph",
        "tasks": [
            {
                "task_key": name,
                "notebook_task": {"notebook_path": f"/Shared/{name}"},
                "depends_on": [{"task_key": dep} for dep in deps],
            }
            for name, deps in graph.items()
        ],
    }
    try:
        parse_job_settings(document)
    except WorkflowInvalid as invalid:
        assert not _is_acyclic(graph)
        for error in invalid.errors:
            match = _CYCLE.search(error.message)
            assert match is not None, error
            cycle = match["cycle"].split(" -> ")
            assert cycle[0] == cycle[-1]
            assert all(b in graph[a] for a, b in itertools.pairwise(cycle))
    else:
        assert _is_acyclic(graph)

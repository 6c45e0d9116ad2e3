"""The task graph's layout and drawing, as pure functions: layers follow dependencies,
edges carry outcome and run_if labels, everything drawn is escaped, and 200 tasks draw
in a few milliseconds."""

from __future__ import annotations

from service.ui._dag import Dependency, TaskNode, layout, render_svg, tasks_from_settings


def test_layers_follow_the_longest_path_from_a_root() -> None:
    tasks = [
        TaskNode("a"),
        TaskNode("b", (Dependency("a"),)),
        TaskNode("c", (Dependency("a"),)),
        TaskNode("d", (Dependency("b"), Dependency("c"))),
        TaskNode("e", (Dependency("a"), Dependency("d"))),
    ]
    placed = layout(tasks).positions
    xs = {key: x for key, (x, _y) in placed.items()}
    assert xs["a"] < xs["b"] == xs["c"] < xs["d"] < xs["e"]
    # Every edge points rightwards; no two tasks share a box.
    assert all(xs[d.task_key] < xs[t.key] for t in tasks for d in t.depends_on)
    assert len(set(placed.values())) == len(tasks)


def test_condition_outcomes_and_run_if_are_written_on_the_edges() -> None:
    settings = {
        "tasks": [
            {"task_key": "check", "condition_task": {"op": "EQUAL_TO", "left": "1", "right": "1"}},
            {"task_key": "yes", "depends_on": [{"task_key": "check", "outcome": "true"}]},
            {"task_key": "no", "depends_on": [{"task_key": "check", "outcome": "false"}]},
            {
                "task_key": "cleanup",
                "depends_on": [{"task_key": "yes"}, {"task_key": "no"}],
                "run_if": "ALL_DONE",
            },
        ]
    }
    svg = str(render_svg(tasks_from_settings(settings), {"check": "SUCCESS", "yes": "SUCCESS"}))
    assert ">outcome true</text>" in svg and ">outcome false</text>" in svg
    assert svg.count(">run_if ALL_DONE</text>") == 2
    assert "<title>check → yes: runs if ALL_SUCCESS, on outcome true</title>" in svg
    # A task without a state yet says so in words.
    assert ">NOT STARTED</text>" in svg


def test_task_keys_and_states_are_escaped() -> None:
    evil = '"><script>alert(1)</script>'
    svg = str(render_svg([TaskNode(evil), TaskNode("b", (Dependency(evil),))], {evil: "<b>FAILED"}))
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg


def test_a_cycle_is_drawn_not_refused() -> None:
    tasks = [TaskNode("a", (Dependency("b"),)), TaskNode("b", (Dependency("a"),)), TaskNode("c")]
    assert set(layout(tasks).positions) == {"a", "b", "c"}


def test_two_hundred_tasks_are_all_drawn() -> None:
    # How fast: bench/ui_pages.py measures the 200-task run page (a timing is not a test).
    tasks = [TaskNode("t0")]
    for i in range(1, 200):
        ups = {(i - 1), (i * 7) % i, (i // 2)}
        tasks.append(TaskNode(f"t{i}", tuple(Dependency(f"t{u}") for u in sorted(ups))))
    svg = str(render_svg(tasks, {f"t{i}": "SUCCESS" for i in range(200)}))
    assert svg.count('class="dag-node ') == 200
    assert all(f">t{i}<" in svg for i in (0, 99, 199))

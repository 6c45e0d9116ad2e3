"""A run's task graph as inline SVG, laid out on the server (no script needed to see it).

Layered layout (the Sugiyama family, kept small): each task's layer is the longest path
to it from a root, so every edge points rightwards; within a layer, tasks are ordered by
the mean position of their neighbours (a few sweeps down and up), which untangles most
crossings of the graphs people write. Linear in tasks and edges per sweep: a 200-task
run lays out in milliseconds.

Every node carries its state as a word as well as a colour, and every edge a title
(which task waits on which, and when it runs), with the ``outcome`` of a condition task
and a ``run_if`` other than ALL_SUCCESS written on the edge itself. Everything drawn from
the workflow (task keys, states) is escaped here, since this markup is not a template.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

NODE_WIDTH = 200
NODE_HEIGHT = 50
LAYER_GAP = 90
ROW_GAP = 22
MARGIN = 16
MAX_KEY_CHARS = 24
SWEEPS = 4
DEFAULT_RUN_IF = "ALL_SUCCESS"


@dataclass(frozen=True)
class Dependency:
    task_key: str
    outcome: str | None = None


@dataclass(frozen=True)
class TaskNode:
    key: str
    depends_on: tuple[Dependency, ...] = ()
    run_if: str | None = None


@dataclass
class Layout:
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)
    width: float = 0
    height: float = 0


def tasks_from_settings(job_settings: Mapping[str, object]) -> list[TaskNode]:
    """The DAG of a Jobs API settings document (``tasks[].depends_on``, ``run_if``)."""
    nodes: list[TaskNode] = []
    raw_tasks = job_settings.get("tasks")
    for task in raw_tasks if isinstance(raw_tasks, list) else []:
        if not isinstance(task, dict) or not isinstance(task.get("task_key"), str):
            continue
        depends = []
        for entry in task.get("depends_on") or []:
            if isinstance(entry, dict) and isinstance(entry.get("task_key"), str):
                outcome = entry.get("outcome")
                depends.append(Dependency(entry["task_key"], str(outcome) if outcome else None))
        run_if = task.get("run_if")
        nodes.append(TaskNode(task["task_key"], tuple(depends), str(run_if) if run_if else None))
    return nodes


def layout(tasks: Sequence[TaskNode]) -> Layout:
    keys = [t.key for t in tasks]
    known = set(keys)
    parents = {t.key: [d.task_key for d in t.depends_on if d.task_key in known] for t in tasks}
    children: dict[str, list[str]] = {k: [] for k in keys}
    for key, ups in parents.items():
        for up in ups:
            children[up].append(key)

    # Layers: longest path from a root (Kahn's order). A cycle (never valid, but drawn
    # rather than refused) puts its tasks one layer past the rest.
    layer: dict[str, int] = {}
    waiting = {k: len(parents[k]) for k in keys}
    ready = [k for k in keys if waiting[k] == 0]
    while ready:
        key = ready.pop()
        layer[key] = max((layer[p] + 1 for p in parents[key] if p in layer), default=0)
        for child in children[key]:
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    last = max(layer.values(), default=-1)
    for key in keys:
        layer.setdefault(key, last + 1)

    rows: dict[int, list[str]] = {}
    for key in keys:  # written order first: stable, and what the author meant
        rows.setdefault(layer[key], []).append(key)
    order = {key: i for row in rows.values() for i, key in enumerate(row)}

    def sweep(row: list[str], neighbours: Mapping[str, list[str]]) -> None:
        def weight(key: str) -> float:
            near = neighbours[key]
            return sum(order[n] for n in near) / len(near) if near else order[key]

        row.sort(key=weight)
        for i, key in enumerate(row):
            order[key] = i

    layers = sorted(rows)
    for _ in range(SWEEPS):
        for index in layers[1:]:
            sweep(rows[index], parents)
        for index in reversed(layers[:-1]):
            sweep(rows[index], children)

    result = Layout()
    tallest = max((len(row) for row in rows.values()), default=0)
    for index, row in rows.items():
        offset = (tallest - len(row)) * (NODE_HEIGHT + ROW_GAP) / 2  # centre short layers
        for i, key in enumerate(row):
            x = MARGIN + index * (NODE_WIDTH + LAYER_GAP)
            y = MARGIN + offset + i * (NODE_HEIGHT + ROW_GAP)
            result.positions[key] = (x, y)
    result.width = MARGIN * 2 + (len(layers)) * (NODE_WIDTH + LAYER_GAP) - LAYER_GAP
    result.height = MARGIN * 2 + tallest * (NODE_HEIGHT + ROW_GAP) - ROW_GAP
    return result


def _short(key: str) -> str:
    return key if len(key) <= MAX_KEY_CHARS else key[: MAX_KEY_CHARS - 1] + "…"


def _state_class(state: str) -> str:
    return "state-" + "".join(c if c.isalnum() else "-" for c in state.lower())


def edge_label(dependency: Dependency, run_if: str | None) -> str:
    """What is written on an edge: the outcome it waits for, and the dependent's run_if
    when it is not the default."""
    parts = []
    if dependency.outcome:
        parts.append(f"outcome {dependency.outcome}")
    if run_if and run_if != DEFAULT_RUN_IF:
        parts.append(f"run_if {run_if}")
    return ", ".join(parts)


def render_svg(
    tasks: Sequence[TaskNode], states: Mapping[str, str], *, link_prefix: str = "#task-"
) -> Markup:
    """The graph as an ``<svg>`` element; ``states`` maps task key to its state word."""
    if not tasks:
        return Markup("")
    placed = layout(tasks)
    out: list[str] = [
        f'<svg class="dag" role="img" aria-labelledby="dag-title" '
        f'viewBox="0 0 {placed.width:.0f} {placed.height:.0f}" '
        f'width="{placed.width:.0f}" height="{placed.height:.0f}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="dag-title">Task graph: {len(tasks)} tasks</title>',
        '<g class="dag-edges">',
    ]
    for task in tasks:
        tx, ty = placed.positions[task.key]
        for dependency in task.depends_on:
            if dependency.task_key not in placed.positions:
                continue
            sx, sy = placed.positions[dependency.task_key]
            x1, y1 = sx + NODE_WIDTH, sy + NODE_HEIGHT / 2
            x2, y2 = tx, ty + NODE_HEIGHT / 2
            bend = (x2 - x1) / 2 if x2 > x1 else LAYER_GAP
            label = edge_label(dependency, task.run_if)
            title = (
                f"{dependency.task_key} → {task.key}: runs if {task.run_if or DEFAULT_RUN_IF}"
                + (f", on outcome {dependency.outcome}" if dependency.outcome else "")
            )
            out.append(
                f'<g class="dag-edge" data-from="{escape(dependency.task_key)}" '
                f'data-to="{escape(task.key)}"><title>{escape(title)}</title>'
                f'<path d="M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} '
                f'{x2 - bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"/>'
            )
            if label:
                mx, my = (x1 + x2) / 2, (y1 + y2) / 2 - 4
                out.append(
                    f'<text class="edge-label" x="{mx:.0f}" y="{my:.0f}" '
                    f'text-anchor="middle">{escape(label)}</text>'
                )
            out.append("</g>")
    out.append('</g><g class="dag-nodes">')
    for task in tasks:
        x, y = placed.positions[task.key]
        state = states.get(task.key, "NOT STARTED")
        out.append(
            f'<a href="{escape(link_prefix + task.key)}" class="dag-node {_state_class(state)}" '
            f'data-task="{escape(task.key)}">'
            f"<title>{escape(task.key)}: {escape(state)}</title>"
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="6"/>'
            f'<text x="{x + 10:.0f}" y="{y + 20:.0f}" class="node-key">'
            f"{escape(_short(task.key))}</text>"
            f'<text x="{x + 10:.0f}" y="{y + 38:.0f}" class="node-state">{escape(state)}</text>'
            "</a>"
        )
    out.append("</g></svg>")
    return Markup("".join(out))

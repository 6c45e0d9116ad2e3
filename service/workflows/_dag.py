"""Cycles in a task graph, named so a person can break them.

Iterative (Tarjan's strongly connected components), because a workflow may hold 1,000
tasks in a chain and Python's recursion limit is about that deep.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence


def find_cycles(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """One cycle per knot of mutually dependent tasks, as ``[a, b, ..., a]`` where each
    node has an edge to the next. Self-loops are ignored (callers report them on their
    own); edges to unknown nodes are ignored. Knots come in the order of ``edges``, and
    each cycle starts at its knot's first node in that order, so output is stable."""
    order = {node: position for position, node in enumerate(edges)}
    cycles = []
    for component in _strongly_connected(edges):
        if len(component) > 1:
            start = min(component, key=order.__getitem__)
            cycles.append(_shortest_cycle(start, set(component), edges))
    cycles.sort(key=lambda cycle: order[cycle[0]])
    return cycles


def _successors(node: str, edges: Mapping[str, Sequence[str]]) -> list[str]:
    return [target for target in edges.get(node, ()) if target in edges and target != node]


def _strongly_connected(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in edges:
        if root in index:
            continue
        # Each frame is (node, iterator position over its successors).
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            successors = _successors(node, edges)
            descended = False
            for offset in range(position, len(successors)):
                target = successors[offset]
                if target not in index:
                    work.append((node, offset + 1))
                    work.append((target, 0))
                    descended = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if descended:
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _shortest_cycle(
    start: str, component: set[str], edges: Mapping[str, Sequence[str]]
) -> list[str]:
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in _successors(node, edges):
            if target not in component:
                continue
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if target not in previous:
                previous[target] = node
                queue.append(target)
    raise AssertionError("a strongly connected component always has a cycle through its nodes")

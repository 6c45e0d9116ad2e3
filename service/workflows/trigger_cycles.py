"""Trigger cycles between workflows, found before a definition is written.

Workflow ``b`` with ``workflow: a`` among its job-completion upstreams is started by
``a``'s end: an edge ``a → b``. Applying definitions that close a loop of such edges
(``a → b → c → a``, or a workflow naming itself) would start runs forever, so it is
refused, naming the loop at the upstream that closes it. Pure: the caller gives the
stored edges (``stored``) and the definitions being written (which replace the stored
ones of the same name).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from service.workflows._definition import WorkflowDefinition
from service.workflows._issues import SpecIssue


@dataclass(frozen=True)
class TriggerCycle:
    workflow: str  # the definition being written whose upstream closes the loop
    path: str  # that upstream's JSON path in the definition
    cycle: tuple[str, ...]  # a → ... → a, starting and ending at ``workflow``

    @property
    def message(self) -> str:
        return "trigger cycle: " + " → ".join(self.cycle)

    def as_issue(self) -> SpecIssue:
        return SpecIssue(self.path, self.message)


def find_trigger_cycles(
    stored: Mapping[str, Collection[str]], applied: Sequence[WorkflowDefinition]
) -> list[TriggerCycle]:
    """``stored``: each stored workflow's workflow upstreams, by name. Returns one cycle
    per offending upstream of the applied definitions (none: nothing to refuse)."""
    upstreams: dict[str, list[str]] = {name: sorted(names) for name, names in stored.items()}
    for definition in applied:
        spec = definition.job_completion
        upstreams[definition.name] = (
            [str(item.value) for item in spec.workflow_upstreams] if spec is not None else []
        )
    downstream: dict[str, list[str]] = {}
    for name in sorted(upstreams):
        for upstream_name in upstreams[name]:
            downstream.setdefault(upstream_name, []).append(name)
    cycles: list[TriggerCycle] = []
    for definition in applied:
        spec = definition.job_completion
        if spec is None:
            continue
        for upstream in spec.workflow_upstreams:
            route = _route(downstream, start=definition.name, goal=str(upstream.value))
            if route is not None:
                cycles.append(
                    TriggerCycle(definition.name, upstream.path, (*route, definition.name))
                )
    return cycles


def _route(downstream: Mapping[str, Sequence[str]], *, start: str, goal: str) -> list[str] | None:
    """The shortest chain of trigger edges from ``start`` to ``goal`` (breadth first, in
    name order so the message is stable), or None."""
    if start == goal:
        return [start]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for following in downstream.get(current, ()):
            if following in came_from or following == start:
                continue
            came_from[following] = current
            if following == goal:
                chain = [goal]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                return chain[::-1]
            queue.append(following)
    return None

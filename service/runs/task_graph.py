"""The task graph a run was submitted with, kept on the run.

A workflow's definition changes; a run's page must draw the graph that ran, not today's.
Only the shape is kept (task keys, ``depends_on`` with ``outcome``, ``run_if``): the
rest of the settings is the workflow's business.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def task_graph(job_settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``tasks`` of Jobs API settings, cut down to what draws the graph."""
    graph: list[dict[str, Any]] = []
    for task in job_settings.get("tasks") or []:
        node: dict[str, Any] = {"task_key": task["task_key"]}
        depends_on = [
            {key: entry[key] for key in ("task_key", "outcome") if key in entry}
            for entry in task.get("depends_on") or []
        ]
        if depends_on:
            node["depends_on"] = depends_on
        if task.get("run_if"):
            node["run_if"] = task["run_if"]
        graph.append(node)
    return graph

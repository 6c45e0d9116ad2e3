"""Parsed workflow definitions, kept per app by (workflow id, version).

A stored definition changes only with its version, and parsing one (a 200-task job) is
the most expensive step of drawing its run page or its row in the workflows list, so
each version is parsed once per process. Small and bounded (least recently used out)."""

from __future__ import annotations

from collections import OrderedDict

from fastapi import Request

from service.store.models import Workflow
from service.workflows import WorkflowDefinition, WorkflowInvalid, parse_workflow

CACHE_SIZE = 256


def cached_definition(request: Request, workflow: Workflow) -> WorkflowDefinition | None:
    """The workflow's definition, or None when the stored document no longer validates."""
    cache: OrderedDict[tuple[str, int], WorkflowDefinition | None] | None = getattr(
        request.app.state, "ui_definitions", None
    )
    if cache is None:
        cache = OrderedDict()
        request.app.state.ui_definitions = cache
    key = (workflow.id, workflow.version)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    try:
        definition: WorkflowDefinition | None = parse_workflow(workflow.source)
    except WorkflowInvalid:
        definition = None
    cache[key] = definition
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
    return definition

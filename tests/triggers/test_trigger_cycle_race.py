"""Two writes at once cannot close a trigger cycle between them. Each checks and writes in
one transaction, as the API's routes do; the second waits for the first to commit
(PostgreSQL: an advisory lock; SQLite: BEGIN IMMEDIATE) and so sees its edge."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.store.models import utcnow
from service.store.models.completion import CompletionTrigger
from service.store.repositories import workflows as workflows_repo
from service.triggers.completion_sync import sync_completion_trigger, trigger_cycles
from service.workflows import parse_workflow
from tests.factories import simple_workflow


def _write(
    sessions: sessionmaker[Session],
    name: str,
    upstream: str,
    *,
    checked: threading.Event | None = None,
    hold_seconds: float = 0.0,
) -> bool:
    """Writes ``name`` triggered by ``upstream`` unless that closes a cycle; True if written."""
    definition = parse_workflow(
        simple_workflow(name, trigger={"job_completion": {"upstreams": [{"workflow": upstream}]}})
    )
    with sessions.begin() as session:
        cycles = trigger_cycles(session, [definition])
        if checked is not None:
            checked.set()
        time.sleep(hold_seconds)  # the other write checks in this gap, if it can
        if cycles:
            return False
        workflow = workflows_repo.create_workflow(session, name=name, source=definition.source)
        sync_completion_trigger(session, workflow=workflow, definition=definition, now=utcnow())
    return True


def test_two_writes_that_together_close_a_cycle_cannot_both_land(
    sessions: sessionmaker[Session],
) -> None:
    checked = threading.Event()
    results: dict[str, bool] = {}
    first = threading.Thread(
        target=lambda: results.update(
            a=_write(sessions, "a", "b", checked=checked, hold_seconds=1.0)
        )
    )
    first.start()
    assert checked.wait(10)
    results["b"] = _write(sessions, "b", "a")  # checks while "a" is checked but not written
    first.join(20)
    assert results == {"a": True, "b": False}
    with sessions() as session:
        stored = session.scalars(select(CompletionTrigger.workflow_name)).all()
    assert stored == ["a"]

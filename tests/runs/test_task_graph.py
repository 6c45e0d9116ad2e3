"""A run keeps the task graph it was submitted with: a later change to the workflow
does not redraw the runs already made, and a repair keeps the graph it repairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.runs.submission import plan_submission
from service.store.models import Run, TriggerEvent
from service.store.repositories import workflows as workflows_repo
from service.workflows import parse_workflow
from tests.factories import make_settings


def _two_tasks(second: dict[str, Any]) -> dict[str, Any]:
    """Jobs JSON (where ``run_if`` lives) for tasks ``check`` and ``load``."""
    notebook = {"notebook_task": {"notebook_path": "/Shared/x"}}
    return parse_workflow(
        {
            "name": "graph",
            "tasks": [
                {"task_key": "check", **notebook},
                {"task_key": "load", **notebook, **second},
            ],
        }
    ).source


def _graph(sessions: sessionmaker[Session], run_id: str) -> Any:
    with sessions() as session:
        return session.scalar(select(Run.task_graph).where(Run.id == run_id))


def test_the_submitted_graph_is_kept_and_a_repair_keeps_it(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    with sessions.begin() as session:
        workflow = workflows_repo.create_workflow(
            session,
            name="graph",
            source=_two_tasks({"depends_on": [{"task_key": "check"}], "run_if": "ALL_DONE"}),
        )
        event = TriggerEvent(
            source="manual",
            source_name="test",
            dedupe_key="k",
            workflow_id=workflow.id,
            payload={},
            parameters={},
        )
        session.add(event)
        session.flush()
        run = Run(workflow_id=workflow.id, trigger_event_id=event.id, status="submitting")
        session.add(run)
        session.flush()
        run_id, workflow_id = run.id, workflow.id
    submitted = [
        {"task_key": "check"},
        {"task_key": "load", "depends_on": [{"task_key": "check"}], "run_if": "ALL_DONE"},
    ]
    with sessions.begin() as session:
        assert plan_submission(session, run_id=run_id, settings=settings) is not None
    assert _graph(sessions, run_id) == submitted

    # The workflow loses its edge; the run is repaired: it keeps the graph it ran.
    with sessions.begin() as session:
        workflows_repo.replace_workflow_source(
            session, workflow=session.get_one(type(workflow), workflow_id), source=_two_tasks({})
        )
        repaired = session.get_one(Run, run_id)
        repaired.retry_mode, repaired.databricks_run_id = "repair", 70
    with sessions.begin() as session:
        plan = plan_submission(session, run_id=run_id, settings=settings)
        assert plan is not None and plan.repair
    assert _graph(sessions, run_id) == submitted

    # Submitted afresh (a resubmit retry), it runs, and keeps, the graph of today.
    with sessions.begin() as session:
        session.get_one(Run, run_id).retry_mode = "resubmit"
    with sessions.begin() as session:
        assert plan_submission(session, run_id=run_id, settings=settings) is not None
    assert _graph(sessions, run_id) == [{"task_key": "check"}, {"task_key": "load"}]

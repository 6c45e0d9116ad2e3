"""Admission under max_concurrent_runs on both databases: let through, queue, skip,
promote FIFO, expire."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from service.policies.retry import RetryPolicy
from service.runs.concurrency import admit, promote_queued
from service.runs.options import EngineOptions
from service.store.models import RunStatus, TriggerEvent, Workflow, utcnow
from service.store.repositories import runs as runs_repo

OPTIONS = EngineOptions(
    mode="job",
    workspace="default",
    max_concurrent_runs=1,
    on_limit="queue",
    max_queued=2,
    max_queue_wait_seconds=60,
    timeout_seconds=0,
    retry=RetryPolicy(),
)


def _event(session: Session, workflow_id: str, key: str) -> TriggerEvent:
    event = TriggerEvent(source="manual", source_name="wf", dedupe_key=key, workflow_id=workflow_id)
    session.add(event)
    session.flush()
    return event


def test_admission_queue_skip_and_fifo_promotion(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        workflow = Workflow(name="wf", source={})
        session.add(workflow)
        session.flush()
        admissions = [
            admit(session, event=_event(session, workflow.id, f"k{i}"), options=OPTIONS)
            for i in range(4)
        ]
        assert [a.verdict for a in admissions] == ["dispatched", "queued", "queued", "skipped"]
        assert "queue full" in (admissions[3].reason or "")
        assert admissions[0].submit_now and not admissions[1].submit_now
        skipper = admit(
            session,
            event=_event(session, workflow.id, "s"),
            options=replace(OPTIONS, on_limit="skip"),
        )
        assert skipper.verdict == "skipped" and skipper.run_id is None
        workflow_id = workflow.id
        first, second, third = (a.run_id for a in admissions[:3])

    with sessions.begin() as session:
        # No slot yet: nothing moves.
        assert (
            promote_queued(session, workflow_id=workflow_id, options=OPTIONS, now=utcnow()).run_ids
            == []
        )
        assert first is not None
        runs_repo.set_status(
            session, run_id=first, expected=(RunStatus.REQUESTED,), status=RunStatus.SUCCEEDED
        )
        promoted = promote_queued(session, workflow_id=workflow_id, options=OPTIONS, now=utcnow())
        assert promoted.run_ids == [second]  # first come, first served; one slot

    with sessions.begin() as session:
        later = utcnow() + timedelta(seconds=120)
        expired = promote_queued(session, workflow_id=workflow_id, options=OPTIONS, now=later)
        assert [r.id for r in expired.expired] == [third]
        run = runs_repo.get_run(session, run_id=str(third))
        assert run is not None and run.status == RunStatus.SKIPPED
        event = session.get(TriggerEvent, run.trigger_event_id)
        assert event is not None and event.verdict == "skipped"

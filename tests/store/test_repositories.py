"""Repository functions on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from service.store.models import DeliveryStatus, EventStatus, RunStatus, utcnow
from service.store.repositories import alerts as alerts_repo
from service.store.repositories import events as events_repo
from service.store.repositories import runs as runs_repo
from service.store.repositories import workflows as workflows_repo


def _workflow(sessions: sessionmaker[Session], name: str = "wf") -> str:
    with sessions.begin() as session:
        return workflows_repo.create_workflow(session, name=name, source={"name": name}).id


def _event(sessions: sessionmaker[Session], workflow_id: str, key: str) -> tuple[str, bool]:
    with sessions.begin() as session:
        event, created = events_repo.record_event(
            session,
            source="webhook",
            source_name="hook",
            dedupe_key=key,
            workflow_id=workflow_id,
            payload={"a": 1},
            parameters={"p": "1"},
        )
        return event.id, created


def test_same_dedupe_key_returns_the_first_event(sessions: sessionmaker[Session]) -> None:
    workflow_id = _workflow(sessions)
    first, created_first = _event(sessions, workflow_id, "key:1")
    second, created_second = _event(sessions, workflow_id, "key:1")
    other, created_other = _event(sessions, workflow_id, "key:2")
    assert (created_first, created_second, created_other) == (True, False, True)
    assert first == second != other


def test_event_is_claimed_for_dispatch_once(sessions: sessionmaker[Session]) -> None:
    event_id, _ = _event(sessions, _workflow(sessions), "key:1")
    with sessions.begin() as session:
        assert events_repo.claim_event_for_dispatch(session, event_id=event_id)
    with sessions.begin() as session:
        assert not events_repo.claim_event_for_dispatch(session, event_id=event_id)
        event = session.get(events_repo.TriggerEvent, event_id)
        assert event is not None and event.status == EventStatus.DISPATCHED


def test_undispatched_events_are_found_only_when_old_enough(
    sessions: sessionmaker[Session],
) -> None:
    event_id, _ = _event(sessions, _workflow(sessions), "key:1")
    with sessions() as session:
        now = utcnow()
        assert (
            events_repo.undispatched_event_ids(session, older_than=now - timedelta(minutes=1)) == []
        )
        assert events_repo.undispatched_event_ids(
            session, older_than=now + timedelta(seconds=1)
        ) == [event_id]


def test_submission_claim_and_record(sessions: sessionmaker[Session]) -> None:
    workflow_id = _workflow(sessions)
    event_id, _ = _event(sessions, workflow_id, "key:1")
    with sessions.begin() as session:
        run_id = runs_repo.create_run(
            session, workflow_id=workflow_id, trigger_event_id=event_id, parameters={}
        ).id
    with sessions.begin() as session:
        assert runs_repo.claim_for_submission(session, run_id=run_id)
    # A run left in `submitting` by a dead worker can be claimed again.
    with sessions.begin() as session:
        assert runs_repo.claim_for_submission(session, run_id=run_id)
    with sessions.begin() as session:
        assert runs_repo.record_submission(
            session, run_id=run_id, databricks_job_id=7, databricks_run_id=99
        )
    with sessions.begin() as session:
        assert not runs_repo.claim_for_submission(session, run_id=run_id)
        assert not runs_repo.record_submission(
            session, run_id=run_id, databricks_job_id=7, databricks_run_id=100
        )
        run = runs_repo.get_run(session, run_id=run_id)
        assert run is not None
        assert (run.status, run.databricks_run_id) == (RunStatus.PENDING, 99)
        assert [r.id for r in runs_repo.active_runs(session)] == [run_id]


def test_runs_page_by_keyset_without_gaps_or_repeats(sessions: sessionmaker[Session]) -> None:
    workflow_id = _workflow(sessions)
    created = []
    for index in range(7):
        event_id, _ = _event(sessions, workflow_id, f"key:{index}")
        with sessions.begin() as session:
            run = runs_repo.create_run(
                session, workflow_id=workflow_id, trigger_event_id=event_id, parameters={}
            )
            created.append(run.id)
    seen: list[str] = []
    before = None
    with sessions() as session:
        while True:
            page = runs_repo.list_runs(session, before=before, limit=3)
            seen.extend(r.id for r in page)
            if len(page) < 3:
                break
            before = (page[-1].requested_at, page[-1].id)
    assert sorted(seen) == sorted(created)
    assert len(seen) == len(set(seen))


def test_delivery_is_unique_per_target_and_attempts_are_claimed(
    sessions: sessionmaker[Session],
) -> None:
    workflow_id = _workflow(sessions)
    event_id, _ = _event(sessions, workflow_id, "key:1")
    with sessions.begin() as session:
        run_id = runs_repo.create_run(
            session, workflow_id=workflow_id, trigger_event_id=event_id, parameters={}
        ).id
    fields = dict(run_id=run_id, event_type="run.failed", channel="email", target="a@example.com")
    with sessions.begin() as session:
        first = alerts_repo.add_delivery(session, payload={}, **fields)
        assert first is not None
        delivery_id = first.id
    with sessions.begin() as session:
        assert alerts_repo.add_delivery(session, payload={}, **fields) is None
    now = utcnow()
    with sessions.begin() as session:
        assert alerts_repo.due_delivery_ids(session, now=now + timedelta(seconds=1)) == [
            delivery_id
        ]
        lease = now + timedelta(minutes=2)
        assert alerts_repo.claim_delivery_attempt(
            session, delivery_id=delivery_id, attempts=0, lease_until=lease
        )
    with sessions.begin() as session:
        # The same attempt cannot be claimed twice, and a leased delivery is not due.
        assert not alerts_repo.claim_delivery_attempt(
            session, delivery_id=delivery_id, attempts=0, lease_until=lease
        )
        assert alerts_repo.due_delivery_ids(session, now=now + timedelta(seconds=1)) == []
        delivery = alerts_repo.get_delivery(session, delivery_id=delivery_id)
        assert delivery is not None
        alerts_repo.mark_attempt_failed(session, delivery=delivery, error="boom", retry_at=None)
    with sessions() as session:
        delivery = alerts_repo.get_delivery(session, delivery_id=delivery_id)
        assert delivery is not None
        assert (delivery.status, delivery.attempts, delivery.last_error) == (
            DeliveryStatus.DEAD,
            1,
            "boom",
        )

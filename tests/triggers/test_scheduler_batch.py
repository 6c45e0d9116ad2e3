"""The scheduler's batch round: a burst is claimed and recorded a batch per transaction,
a batch claim that lost a race falls back to claiming one by one, and a scheduler
process that dies after claiming (or after committing) loses no fire and doubles none."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from service.store.models import EventStatus
from service.store.models.triggers import Schedule
from service.store.repositories import events as events_repo
from service.store.repositories import schedules as schedules_repo
from service.store.repositories.schedules import FireClaim
from service.triggers import ledger
from service.triggers.ledger import NewTrigger, record_triggers
from service.triggers.schedule_fires import fire_schedules
from service.triggers.scheduler import Scheduler
from tests.factories import settings_env
from tests.triggers.conftest import FakeClock, Triggers

EVERY_MINUTE = {"cron": "0 * * * * ?", "timezone": "UTC"}
FIRST_FIRE = "2026-11-25T08:01:00+00:00"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _scheduler(triggers: Triggers, clock: FakeClock, **settings: object) -> Scheduler:
    configured = triggers.settings.model_copy(update=settings)
    scheduler = Scheduler(triggers.sessions, triggers.sender, configured, clock=clock)
    scheduler.startup()
    return scheduler


def _next_fires(triggers: Triggers) -> dict[str, datetime | None]:
    with triggers.sessions() as session:
        return {s.workflow_name: s.next_fire_at for s in schedules_repo.list_schedules(session)}


def test_a_burst_larger_than_a_batch_fires_each_schedule_once(
    triggers: Triggers, clock: FakeClock
) -> None:
    for n in range(7):
        triggers.add_workflow(f"burst{n}", schedule=EVERY_MINUTE)
    scheduler = _scheduler(triggers, clock, scheduler_batch_size=3)
    clock.advance(minutes=1, milliseconds=40)
    scheduler.tick()
    events = triggers.accepted("schedule")
    assert sorted(e.source_name for e in events) == [f"burst{n}" for n in range(7)]
    assert {e.payload["fire_at"] for e in events} == {FIRST_FIRE}
    assert {e.payload["late_ms"] for e in events} == {40}  # due instant to the writing
    assert scheduler.fired == 7
    assert triggers.queued_messages() == 7
    assert set(_next_fires(triggers).values()) == {datetime(2026, 11, 25, 8, 2, tzinfo=UTC)}
    scheduler.tick()  # nothing more is due
    assert triggers.queued_messages() == 7


def _sent_event_ids(triggers: Triggers) -> list[str]:
    """The dispatch messages in the order they were sent (LPUSH: newest first)."""
    prefix = triggers.settings.queue_prefix
    raw = triggers.broker.lrange(f"{prefix}:{prefix}.tasks", 0, -1)
    bodies = [json.loads(base64.b64decode(json.loads(m)["body"])) for m in reversed(raw)]
    return [args[0] for args, _kwargs, _embed in bodies]


def test_a_burst_is_sent_in_one_round_trip_in_each_schedules_order(
    triggers: Triggers, clock: FakeClock
) -> None:
    for n in range(6):
        triggers.add_workflow(f"every5_{n}", schedule={"cron": "0 0/5 * * * ?"})
    scheduler = _scheduler(
        triggers, clock, scheduler_misfire_policy="catch_up", scheduler_misfire_limit=3
    )
    clock.advance(minutes=20, seconds=45)  # 08:05..08:20 missed: the latest 3 run
    scheduler.tick()
    fires = {e.id: (e.source_name, e.payload["fire_at"]) for e in triggers.accepted()}
    sent = _sent_event_ids(triggers)
    assert sorted(sent) == sorted(fires) and len(fires) == 18
    for n in range(6):
        times = [fires[i][1] for i in sent if fires[i][0] == f"every5_{n}"]
        assert times == [f"2026-11-25T08:{m}:00+00:00" for m in (10, 15, 20)]


def test_a_batch_claim_matches_every_row_it_read(triggers: Triggers, clock: FakeClock) -> None:
    for n in range(3):
        triggers.add_workflow(f"claim{n}", schedule=EVERY_MINUTE)
    _scheduler(triggers, clock)
    clock.advance(minutes=1)
    later = clock.now.replace(minute=2)
    with triggers.sessions.begin() as session:
        read = schedules_repo.due_schedules(session, now=clock.now, limit=10, lock=True)
        claims = [FireClaim(s.id, s.next_fire_at or later, later, clock.now) for s in read]
        assert schedules_repo.claim_fires(session, claims=claims, now=clock.now) == 3
        # A second claim of the same reads matches nothing: they moved on.
        assert schedules_repo.claim_fires(session, claims=claims, now=clock.now) == 0
    assert set(_next_fires(triggers).values()) == {later}


def test_a_batch_claim_that_lost_a_race_claims_one_by_one(
    triggers: Triggers, clock: FakeClock
) -> None:
    for name in ("early", "raced", "late"):
        triggers.add_workflow(name, schedule=EVERY_MINUTE)
    _scheduler(triggers, clock)
    clock.advance(minutes=1)
    with triggers.sessions() as session:
        read = schedules_repo.due_schedules(session, now=clock.now, limit=10)
        session.expunge_all()  # the rows as this scheduler read them
    # Another replica fires "raced" between this scheduler's read and its claim.
    with triggers.sessions.begin() as session:
        session.execute(
            update(Schedule)
            .where(Schedule.workflow_name == "raced")
            .values(next_fire_at=clock.now.replace(minute=2))
        )
    with triggers.sessions() as session:
        fired = fire_schedules(
            session, read, now=clock.now, settings=triggers.settings, clock=clock
        )
        session.commit()
    assert [a.created for a in fired] == [True, True]
    assert sorted(e.source_name for e in triggers.accepted("schedule")) == ["early", "late"]


def test_recording_a_batch_returns_events_already_recorded(triggers: Triggers) -> None:
    workflow_id = triggers.add_workflow("batch")
    first = NewTrigger("batch", "fire:1", workflow_id, {"n": 1})
    with triggers.sessions.begin() as session:
        (earlier,) = record_triggers(session, source="schedule", triggers=[first])
    second = NewTrigger("batch", "fire:2", workflow_id, {"n": 2})
    with triggers.sessions.begin() as session:
        again, new = record_triggers(session, source="schedule", triggers=[first, second])
    assert earlier.created and not again.created and new.created
    assert again.event_id == earlier.event_id
    assert [e.payload["n"] for e in triggers.accepted("schedule")] == [1, 2]


def test_a_batch_that_loses_the_insert_race_reads_the_winners(
    triggers: Triggers, monkeypatch: pytest.MonkeyPatch
) -> None:
    workflow_id = triggers.add_workflow("batch")
    taken = NewTrigger("batch", "fire:1", workflow_id, {"n": 1})
    with triggers.sessions.begin() as session:
        (winner,) = record_triggers(session, source="schedule", triggers=[taken])
    # Another writer inserting between this batch's lookup and its insert cannot be timed
    # on one machine; a lookup that misses the row is the same state for the insert.
    monkeypatch.setattr(events_repo, "accepted_event_ids", lambda *_a, **_k: {})
    fresh = NewTrigger("batch", "fire:2", workflow_id, {"n": 2})
    with triggers.sessions.begin() as session:
        lost, new = ledger.record_triggers(session, source="schedule", triggers=[taken, fresh])
    assert (lost.event_id, lost.created) == (winner.event_id, False)
    assert new.created
    assert len(triggers.events("schedule")) == 2


_DYING_SCHEDULER = """
import os, sys
from datetime import UTC, datetime, timedelta
from service.runs.queue import CeleryTaskSender, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.triggers import schedule_fires, scheduler

def die(*_args, **_kwargs):
    os._exit(9)

if sys.argv[1] == "after-claim":
    schedule_fires.record_triggers = die  # the claim UPDATE ran; nothing is committed
else:
    scheduler.announce_all = die  # committed; no message sent
settings = Settings()
engine = make_engine(settings.resolved_database_url)
sender = CeleryTaskSender(make_celery(settings))
at = datetime.fromisoformat(sys.argv[2])
replica = scheduler.Scheduler(make_session_factory(engine), sender, settings, clock=lambda: at)
replica.tick()
"""


@pytest.mark.parametrize("dies", ["after-claim", "after-commit"])
def test_a_scheduler_process_that_dies_mid_round_loses_and_doubles_nothing(
    triggers: Triggers, clock: FakeClock, dies: str
) -> None:
    triggers.add_workflow("every_minute", schedule=EVERY_MINUTE)
    _scheduler(triggers, clock)
    clock.advance(minutes=1, seconds=2)
    dying = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_DYING_SCHEDULER), dies, clock.now.isoformat()],
        env=settings_env(triggers.settings),
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert dying.returncode == 9, dying.stderr.decode()[-2000:]
    assert triggers.queued_messages() == 0
    if dies == "after-claim":  # rolled back with the process: still due, nothing written
        assert triggers.events() == []
        assert _next_fires(triggers) == {"every_minute": datetime.fromisoformat(FIRST_FIRE)}
    clock.advance(seconds=1)
    survivor = _scheduler(triggers, clock)
    survivor.tick()
    (event,) = triggers.accepted("schedule")
    assert event.payload["fire_at"] == FIRST_FIRE
    if dies == "after-claim":
        assert survivor.fired == 1 and triggers.queued_messages() == 1
    else:  # the event is the outbox's: the sweeper sends it, the survivor must not
        assert survivor.fired == 0 and triggers.queued_messages() == 0
        with triggers.sessions() as session:
            waiting = events_repo.undispatched_event_ids(
                session, older_than=datetime.now(UTC) + timedelta(minutes=1)
            )
        assert event.status == EventStatus.RECEIVED and waiting == [event.id]

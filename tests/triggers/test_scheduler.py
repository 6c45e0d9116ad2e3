"""The scheduler: one event per fire with two replicas, restart, misfire policies,
periodic triggers, sync of changed definitions. Time is a fake clock; nothing sleeps."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from service.store.models import Workflow
from service.store.models.triggers import Schedule
from service.triggers.scheduler import Scheduler
from tests.triggers.conftest import FakeClock, Triggers

EVERY_5_MIN = {"cron": "0 0/5 * * * ?", "timezone": "UTC"}


def _scheduler(triggers: Triggers, clock: FakeClock, **settings: object) -> Scheduler:
    configured = triggers.settings.model_copy(update=settings)
    scheduler = Scheduler(triggers.sessions, triggers.sender, configured, clock=clock)
    scheduler.startup()
    return scheduler


def _fire_times(triggers: Triggers) -> list[str]:
    return [e.payload["fire_at"] for e in triggers.accepted("schedule")]


def test_two_schedulers_fire_each_occurrence_once(triggers: Triggers, clock: FakeClock) -> None:
    triggers.add_workflow("every5", schedule=EVERY_5_MIN)
    first, second = _scheduler(triggers, clock), _scheduler(triggers, clock)
    for _ in range(3):
        clock.advance(minutes=5)
        barrier = threading.Barrier(2)

        def tick(scheduler: Scheduler, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            scheduler.tick()

        threads = [threading.Thread(target=tick, args=(s,)) for s in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert _fire_times(triggers) == [
        "2026-11-25T08:05:00+00:00",
        "2026-11-25T08:10:00+00:00",
        "2026-11-25T08:15:00+00:00",
    ]
    assert first.fired + second.fired == 3
    assert triggers.queued_messages() == 3
    assert all(e.verdict is None for e in triggers.events())  # no duplicate rows for races


def test_a_restarted_scheduler_resumes_where_it_left_off(
    triggers: Triggers, clock: FakeClock
) -> None:
    triggers.add_workflow("every5", schedule=EVERY_5_MIN)
    first = _scheduler(triggers, clock)
    clock.advance(minutes=5, seconds=1)
    first.tick()
    first.shutdown()
    clock.advance(minutes=5)  # down for one occurrence, found 1 s late: within grace
    _scheduler(triggers, clock).tick()
    assert _fire_times(triggers) == ["2026-11-25T08:05:00+00:00", "2026-11-25T08:10:00+00:00"]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("skip", []),
        ("run_once", ["2026-11-25T09:00:00+00:00"]),
        (
            "catch_up",
            ["2026-11-25T08:50:00+00:00", "2026-11-25T08:55:00+00:00", "2026-11-25T09:00:00+00:00"],
        ),
    ],
)
def test_misfire_policies_after_downtime(
    triggers: Triggers, clock: FakeClock, policy: str, expected: list[str]
) -> None:
    triggers.add_workflow("every5", schedule=EVERY_5_MIN)
    scheduler = _scheduler(
        triggers, clock, scheduler_misfire_policy=policy, scheduler_misfire_limit=3
    )
    clock.advance(hours=1, seconds=45)  # every fire of the hour is > 30 s late
    scheduler.tick()
    assert _fire_times(triggers) == expected
    skipped = [e for e in triggers.events() if e.verdict == "skipped"]
    assert len(skipped) == 1
    assert skipped[0].payload["count"] == str(12 - len(expected))
    # Back on time afterwards.
    clock.advance(minutes=4, seconds=15)
    scheduler.tick()
    assert _fire_times(triggers)[-1] == "2026-11-25T09:05:00+00:00"


def test_periodic_triggers_and_pause_from_the_definition(
    triggers: Triggers, clock: FakeClock
) -> None:
    periodic = {"pause_status": "UNPAUSED", "periodic": {"interval": 2, "unit": "HOURS"}}
    triggers.add_workflow("twohourly", trigger=periodic)
    triggers.add_workflow("paused", schedule={**EVERY_5_MIN, "pause_status": "PAUSED"})
    scheduler = _scheduler(triggers, clock)
    for _ in range(5):
        clock.advance(hours=1)
        scheduler.tick()
    assert _fire_times(triggers) == ["2026-11-25T10:00:00+00:00", "2026-11-25T12:00:00+00:00"]
    with triggers.sessions() as session:
        paused = session.query(Schedule).filter(Schedule.workflow_name == "paused").one()
        assert paused.paused is True


def test_a_changed_definition_is_read_again(triggers: Triggers, clock: FakeClock) -> None:
    workflow_id = triggers.add_workflow("every5", schedule=EVERY_5_MIN)
    scheduler = _scheduler(triggers, clock, scheduler_sync_seconds=1)
    with triggers.sessions.begin() as session:
        workflow = session.get(Workflow, workflow_id)
        assert workflow is not None
        workflow.source = {**workflow.source, "schedule": {"cron": "0 0 10 * * ?"}}
        workflow.version += 1
    clock.advance(hours=3)
    scheduler.tick()
    assert _fire_times(triggers) == []  # the new schedule starts from now: 10:00 tomorrow
    with triggers.sessions() as session:
        row = session.query(Schedule).one()
        assert row.expression == "0 0 10 * * ?"
        assert row.next_fire_at is not None
        assert row.next_fire_at - clock.now < timedelta(days=1)


def test_sleep_is_until_the_next_fire(triggers: Triggers, clock: FakeClock) -> None:
    triggers.add_workflow("every5", schedule=EVERY_5_MIN)
    scheduler = _scheduler(triggers, clock, scheduler_tick_seconds=600)
    clock.advance(minutes=4, seconds=59, milliseconds=750)
    assert scheduler.tick() == pytest.approx(0.25)


def test_a_sync_due_during_the_sleep_is_done_before_sleeping(
    triggers: Triggers, clock: FakeClock
) -> None:
    """Re-reading definitions waits for the quiet after a round, not the start of the
    next one, when fires are due."""
    workflow_id = triggers.add_workflow("every5", schedule=EVERY_5_MIN)
    scheduler = _scheduler(triggers, clock, scheduler_sync_seconds=60, scheduler_tick_seconds=1)
    with triggers.sessions.begin() as session:
        workflow = session.get(Workflow, workflow_id)
        assert workflow is not None
        workflow.source = {**workflow.source, "schedule": {"cron": "0 0 10 * * ?"}}
        workflow.version += 1
    clock.advance(seconds=59, milliseconds=500)  # the sync comes due in 0.5 s
    scheduler.tick()
    with triggers.sessions() as session:
        assert session.query(Schedule).one().expression == "0 0 10 * * ?"

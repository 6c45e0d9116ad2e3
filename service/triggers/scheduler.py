"""``lockgate scheduler``: fires schedules (cron and periodic) and checks expectations.

A small loop with ``startup``, ``tick`` and ``shutdown`` (uvicorn's ``Server`` shape):
``tick`` does one round and returns how long to sleep, so tests drive it with their own
clock and never sleep. Several schedulers may run at once: each fire is claimed by a
conditional UPDATE of the schedule's ``next_fire_at`` (only one replica's UPDATE
matches), and the event it records is unique per (schedule, fire time) besides. State
lives only in the database, so a restarted scheduler resumes from ``next_fire_at``, and
what it missed meanwhile goes through the misfire policy.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.runs.queue import TaskSender
from service.settings import Settings
from service.store.models import utcnow
from service.store.models.triggers import Schedule
from service.store.repositories import events as events_repo
from service.store.repositories import schedules as schedules_repo
from service.triggers.cron import CronError
from service.triggers.expectations import check_due_expectations
from service.triggers.ledger import AcceptedTrigger, announce, record_trigger
from service.triggers.schedule_times import MisfirePolicy, plan_fires, schedule_times
from service.triggers.sync import DefinitionSync

log = logging.getLogger(__name__)

SOURCE = "schedule"
_CHUNK = 200  # schedules per transaction: early fires are committed (and sent) early


class Scheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        sender: TaskSender,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._sync = DefinitionSync(schedules=True, file_watches=False)
        self._next_sync: datetime | None = None
        self.should_exit = threading.Event()
        self.fired = 0

    def startup(self) -> None:
        self._sync_definitions(self._clock())

    def tick(self) -> float:
        """One round; returns the seconds to sleep before the next."""
        now = self._clock()
        if self._next_sync is None or now >= self._next_sync:
            self._sync_definitions(now)
        while True:
            with self._sessions() as session:
                due = schedules_repo.due_schedules(session, now=now, limit=_CHUNK)
                if not due:
                    break
                accepted = [a for s in due for a in self._fire(session, s, now)]
                session.commit()
            for item in accepted:
                announce(self._sender, item)
            self.fired += sum(1 for a in accepted if a.created)
            if len(due) < _CHUNK:
                break
        with self._sessions() as session:
            alerts = check_due_expectations(session, now=now, settings=self._settings)
            earliest = schedules_repo.earliest_fire(session)
            session.commit()
        for item in alerts:
            announce(self._sender, item)
        wait = self._settings.scheduler_tick_seconds
        if earliest is not None:
            wait = min(wait, max(0.0, (earliest - self._clock()).total_seconds()))
        return wait

    def shutdown(self) -> None:
        self.should_exit.set()

    def run(self) -> None:
        """Ticks until ``should_exit`` is set (by a signal handler or ``shutdown``)."""
        self.startup()
        while not self.should_exit.is_set():
            try:
                wait = self.tick()
            except OperationalError:
                log.warning("scheduler tick failed; retrying", exc_info=True)
                wait = self._settings.scheduler_tick_seconds
            self.should_exit.wait(wait)

    def _sync_definitions(self, now: datetime) -> None:
        with self._sessions() as session:
            try:
                read = self._sync.sync(session, now=now)
                session.commit()
            except IntegrityError:
                # Another scheduler created the same row first: read again next round.
                session.rollback()
                self._sync = DefinitionSync(schedules=True, file_watches=False)
                read = 0
        if read:
            log.info("schedules synced", extra={"workflows_read": read})
        self._next_sync = now + timedelta(seconds=self._settings.scheduler_sync_seconds)

    def _fire(self, session: Session, schedule: Schedule, now: datetime) -> list[AcceptedTrigger]:
        expected = schedule.next_fire_at
        assert expected is not None  # due_schedules selects only scheduled rows
        try:
            times = schedule_times(
                kind=schedule.kind,
                expression=schedule.expression,
                timezone=schedule.timezone,
                interval=schedule.interval,
                unit=schedule.unit,
                anchor=schedule.anchor_at,
            )
        except CronError as exc:
            log.warning("schedule of %s unreadable: %s", schedule.workflow_name, exc)
            schedules_repo.claim_fire(
                session,
                schedule_id=schedule.id,
                expected_next=expected,
                new_next=None,
                fired_at=None,
                now=now,
            )
            return []
        policy: MisfirePolicy = schedule.misfire_policy or self._settings.scheduler_misfire_policy  # type: ignore[assignment]
        plan = plan_fires(
            times,
            next_fire_at=expected,
            now=now,
            grace=timedelta(seconds=self._settings.scheduler_misfire_grace_seconds),
            policy=policy,
            limit=schedule.misfire_limit or self._settings.scheduler_misfire_limit,
        )
        claimed = schedules_repo.claim_fire(
            session,
            schedule_id=schedule.id,
            expected_next=expected,
            new_next=plan.next_fire_at,
            fired_at=plan.run[-1] if plan.run else None,
            now=now,
        )
        if not claimed:
            return []  # another scheduler fired it
        if plan.missed:
            _record_missed(session, schedule, plan.missed, plan.missed_more, policy)
        accepted = []
        for fire_at in plan.run:
            accepted.append(
                record_trigger(
                    session,
                    source=SOURCE,
                    source_name=schedule.workflow_name,
                    dedupe_key=f"fire:{fire_at.isoformat()}",
                    workflow_id=schedule.workflow_id,
                    payload={
                        "fire_at": fire_at.isoformat(),
                        "kind": schedule.kind,
                        "expression": schedule.expression,
                        "timezone": schedule.timezone,
                        "late_ms": int((now - fire_at).total_seconds() * 1000),
                    },
                    parameters={},
                    record_duplicate=False,
                )
            )
        return accepted


def _record_missed(
    session: Session, schedule: Schedule, missed: list[datetime], more: bool, policy: str
) -> None:
    """One ``skipped`` ledger row for the fires the misfire policy did not run."""
    first, last = missed[0], missed[-1]
    count = f"{len(missed)}{'+' if more else ''}"
    events_repo.record_ignored_event(
        session,
        source=SOURCE,
        source_name=schedule.workflow_name,
        dedupe_key=f"missed:{first.isoformat()}..{last.isoformat()}",
        workflow_id=schedule.workflow_id,
        verdict="skipped",
        reason=f"{count} fires from {first.isoformat()} to {last.isoformat()} were missed "
        f"while no scheduler ran; misfire policy {policy!r} did not run them",
        payload={"missed_from": first.isoformat(), "missed_to": last.isoformat(), "count": count},
    )

"""``lockgate scheduler``: fires schedules (cron and periodic) and checks expectations.

A small loop with ``startup``, ``tick`` and ``shutdown`` (uvicorn's ``Server`` shape):
``tick`` does one round and returns how long to sleep, so tests drive it with their own
clock and never sleep. Several schedulers may run at once: each fire is claimed by a
conditional UPDATE of the schedule's ``next_fire_at`` (only one replica's UPDATE
matches), in the transaction that records its event, and the event is unique per
(schedule, fire time) besides (see ``schedule_fires``). State lives only in the
database, so a restarted scheduler resumes from ``next_fire_at``, and what it missed
meanwhile goes through the misfire policy.

Lateness: the loop sleeps until the earliest ``next_fire_at`` (at most
``scheduler_tick_seconds``), fires what is due first, and leaves the rest of a round
(re-reading definitions, expectations) to the quiet after a burst, so that work never
delays a fire. A batch's messages go to the broker in one round trip (a pipeline):
sent one by one, the last of a burst of 170 waited for 170 round trips.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.observability.heartbeat import Heartbeat
from service.runs.queue import TaskSender
from service.settings import Settings
from service.store.models import utcnow
from service.store.repositories import schedules as schedules_repo
from service.triggers.expectations import check_due_expectations
from service.triggers.ledger import announce, announce_all
from service.triggers.schedule_fires import fire_schedules
from service.triggers.sync import DefinitionSync

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        sender: TaskSender,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._heartbeat = heartbeat
        self._sync = DefinitionSync(schedules=True, file_watches=False)
        self._next_sync: datetime | None = None
        self.should_exit = threading.Event()
        self.fired = 0

    def startup(self) -> None:
        self._sync_definitions(self._clock())

    def tick(self) -> float:
        """One round; returns the seconds to sleep before the next."""
        now = self._clock()
        if self._sync_due(now):
            self._sync_definitions(now)
        self._fire_due(now)
        # A sync that would come due while asleep is done now, in the quiet after the
        # burst, rather than at the start of the next round, just when fires are due.
        if self._sync_due(self._clock() + timedelta(seconds=self._settings.scheduler_tick_seconds)):
            self._sync_definitions(self._clock())
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

    def _fire_due(self, now: datetime) -> None:
        """Fires everything due at ``now``, a batch per transaction, each batch
        announced as soon as it is committed (the message must never outrun its row)."""
        batch = self._settings.scheduler_batch_size
        while True:
            with self._sessions() as session:
                due = schedules_repo.due_schedules(session, now=now, limit=batch, lock=True)
                if not due:
                    return
                fired = fire_schedules(
                    session, due, now=now, settings=self._settings, clock=self._clock
                )
                session.commit()
            announce_all(self._sender, fired)
            self.fired += sum(1 for a in fired if a.created)
            if len(due) < batch or self.should_exit.is_set():
                return  # when stopping, fires not claimed yet stay due for the next scheduler

    def _sync_due(self, at: datetime) -> bool:
        return self._next_sync is None or at >= self._next_sync

    def shutdown(self) -> None:
        """Stops the loop: the batch of fires in hand is committed and announced, no more
        are claimed. Safe from a signal handler or another thread."""
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
            if self._heartbeat is not None:
                self._heartbeat.beat()
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

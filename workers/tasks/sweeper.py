from __future__ import annotations

import logging
from datetime import timedelta

from celery import Celery, Task

from service.runs.queue import DELIVER_ALERT, DISPATCH_EVENT, SUBMIT_RUN, SWEEP
from service.runs.sweeping import find_stuck_work, sweep_queues
from service.store.models import utcnow
from service.triggers.job_completion import fire_due
from service.triggers.ledger import announce_all
from workers.context import WorkerContext

log = logging.getLogger(__name__)


def register(app: Celery, ctx: WorkerContext) -> None:
    @app.task(name=SWEEP, bind=True, acks_late=False, ignore_result=True)
    def sweep(self: Task) -> None:
        now = utcnow()
        with ctx.sessions.begin() as session:
            queues = sweep_queues(session, settings=ctx.settings, now=now)
        with ctx.sessions() as session:
            work = find_stuck_work(
                session,
                now=now,
                stuck_after=timedelta(seconds=ctx.settings.stuck_after_seconds),
            )
        with ctx.sessions.begin() as session:
            fired = fire_due(session, now=now)  # job-completion fires held by min_time
        announce_all(ctx.sender, fired)
        for event_id in work.event_ids:
            ctx.sender.send(DISPATCH_EVENT, event_id)
        for run_id in dict.fromkeys([*queues.run_ids, *work.run_ids]):
            ctx.sender.send(SUBMIT_RUN, run_id)
        for delivery_id in [*queues.alert_delivery_ids, *work.delivery_ids]:
            ctx.sender.send(DELIVER_ALERT, delivery_id)
        if work.event_ids or work.run_ids or work.delivery_ids or queues.run_ids:
            log.info(
                "sweeper re-sent %d events, %d runs, %d alert deliveries; %d queued let through",
                len(work.event_ids),
                len(work.run_ids),
                len(work.delivery_ids),
                len(queues.run_ids),
            )

from __future__ import annotations

from celery import Celery, Task

from service.runs.delivery import deliver_alert
from service.runs.queue import DELIVER_ALERT
from workers.context import WorkerContext


def register(app: Celery, ctx: WorkerContext) -> None:
    @app.task(name=DELIVER_ALERT, bind=True, acks_late=True)
    def deliver(self: Task, delivery_id: str) -> None:
        # Failures are recorded on the row with their next attempt time; the sweeper
        # re-sends when it is due. No broker countdowns.
        deliver_alert(ctx.sessions, ctx.settings, delivery_id=delivery_id)

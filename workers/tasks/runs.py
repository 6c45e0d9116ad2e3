from __future__ import annotations

import logging

from celery import Celery, Task

from service.databricks import ApiError, TransportError, is_retryable
from service.runs.dispatch import dispatch_event
from service.runs.queue import DELIVER_ALERT, DISPATCH_EVENT, POLL_RUNS, SUBMIT_RUN
from service.runs.submission import submit_run
from service.runs.watching import poll_active_runs
from workers.context import WorkerContext

log = logging.getLogger(__name__)

# Short in-task retries for transient Databricks trouble; anything longer is the
# sweeper's job (the run stays in `submitting` and is re-sent).
_TRANSIENT = (TransportError, ApiError)


def register(app: Celery, ctx: WorkerContext) -> None:
    @app.task(name=DISPATCH_EVENT, bind=True, acks_late=True)
    def dispatch(self: Task, event_id: str) -> None:
        with ctx.sessions.begin() as session:
            run_id = dispatch_event(session, event_id=event_id)
        if run_id is not None:
            ctx.sender.send(SUBMIT_RUN, run_id)

    @app.task(
        name=SUBMIT_RUN,
        bind=True,
        acks_late=True,
        max_retries=3,
    )
    def submit(self: Task, run_id: str) -> None:
        try:
            outcome = submit_run(ctx.sessions, ctx.databricks, run_id=run_id)
        except _TRANSIENT as exc:
            if isinstance(exc, ApiError) and not is_retryable(exc):
                raise
            raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
        for delivery_id in outcome.alert_delivery_ids:
            ctx.sender.send(DELIVER_ALERT, delivery_id)

    @app.task(name=POLL_RUNS, bind=True, acks_late=False, ignore_result=True)
    def poll(self: Task) -> None:
        # One sweep at a time across all workers: a second concurrent sweep would only
        # spend API budget. The lock expires on its own if its holder dies.
        lock = ctx.redis.lock(
            ctx.key("poll-lock"),
            timeout=max(60.0, ctx.settings.poll_interval_seconds * 6),
            blocking=False,
        )
        if not lock.acquire():
            return
        try:
            report = poll_active_runs(
                ctx.sessions, ctx.databricks, max_pages=ctx.settings.poll_max_pages
            )
        finally:
            lock.release()
        for delivery_id in report.alert_delivery_ids:
            ctx.sender.send(DELIVER_ALERT, delivery_id)

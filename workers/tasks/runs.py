"""Thin run tasks: ids in, a ``service.runs`` function called, follow-up messages out
(only after the function's transaction committed)."""

from __future__ import annotations

import logging

from celery import Celery, Task

from service.databricks import ApiError, TransportError, is_retryable
from service.runs.control import send_cancel
from service.runs.dispatch import dispatch_event
from service.runs.queue import (
    CANCEL_RUN,
    CONFIRM_HINT,
    DELIVER_ALERT,
    DISPATCH_EVENT,
    DISPATCH_EVENTS,
    POLL_RUNS,
    SUBMIT_RUN,
    TaskMessage,
    send_all,
)
from service.runs.submission import submit_run
from service.runs.watching import poll_active_runs, record_hinted_run
from service.triggers.ledger import announce_all
from workers.context import WorkerContext

log = logging.getLogger(__name__)

# Short in-task retries for transient Databricks trouble; anything longer is the
# sweeper's job (the run stays in `submitting` and is re-sent).
_TRANSIENT = (TransportError, ApiError)
_MAX_SUBMIT_RETRIES = 3


def register(app: Celery, ctx: WorkerContext) -> None:
    @app.task(name=DISPATCH_EVENT, bind=True, acks_late=True)
    def dispatch(self: Task, event_id: str) -> None:
        with ctx.sessions.begin() as session:
            run_id = dispatch_event(session, event_id=event_id, settings=ctx.settings)
        if run_id is not None:
            ctx.sender.send(SUBMIT_RUN, run_id)

    @app.task(name=DISPATCH_EVENTS, bind=True, acks_late=True)
    def dispatch_many(self: Task, *event_ids: str) -> None:
        # A burst of webhooks arrives as a few of these, not a message per event. Each
        # event is dispatched in its own transaction; one that fails is left to the
        # sweeper (it re-sends undispatched events), not allowed to hold up the others.
        submits: list[TaskMessage] = []
        for event_id in event_ids:
            try:
                with ctx.sessions.begin() as session:
                    run_id = dispatch_event(session, event_id=event_id, settings=ctx.settings)
            except Exception:
                log.exception("event %s not dispatched; the sweeper will retry", event_id)
                continue
            if run_id is not None:
                submits.append((SUBMIT_RUN, (run_id,)))
        send_all(ctx.sender, submits)

    @app.task(name=SUBMIT_RUN, bind=True, acks_late=True, max_retries=_MAX_SUBMIT_RETRIES)
    def submit(self: Task, run_id: str) -> None:
        try:
            outcome = submit_run(ctx.sessions, ctx.workspaces, run_id=run_id, settings=ctx.settings)
        except _TRANSIENT as exc:
            if isinstance(exc, ApiError) and not is_retryable(exc):
                raise
            if self.request.retries >= _MAX_SUBMIT_RETRIES:
                # The run stays `submitting`; the sweeper sends it again later.
                log.warning("submission still failing; left to the sweeper: %s", exc)
                return
            raise self.retry(exc=exc, countdown=2**self.request.retries) from exc
        for delivery_id in outcome.alert_delivery_ids:
            ctx.sender.send(DELIVER_ALERT, delivery_id)

    @app.task(name=CANCEL_RUN, bind=True, acks_late=True)
    def cancel(self: Task, run_id: str) -> None:
        send_cancel(ctx.sessions, ctx.workspaces, run_id=run_id)

    @app.task(name=POLL_RUNS, bind=True, acks_late=False, ignore_result=True)
    def poll(self: Task) -> None:
        # One sweep at a time across all workers: a second concurrent sweep would only
        # spend API budget. The lock expires on its own if its holder dies, so a worker
        # killed mid-sweep holds up polling for at most the lock's timeout.
        lock = ctx.redis.lock(
            ctx.key("poll-lock"),
            timeout=max(ctx.settings.poll_lock_seconds, ctx.settings.poll_interval_seconds * 2),
            blocking=False,
        )
        if not lock.acquire():
            return
        try:
            with ctx.poll_lag.measuring(ctx.sessions):
                report = poll_active_runs(
                    ctx.sessions,
                    ctx.workspaces,
                    max_pages=ctx.settings.poll_max_pages,
                    settings=ctx.settings,
                )
        finally:
            try:
                lock.release()
            except Exception:  # expired and maybe taken by another sweep: not ours to free
                log.warning("poll lock expired before the sweep ended")
        for delivery_id in report.alert_delivery_ids:
            ctx.sender.send(DELIVER_ALERT, delivery_id)
        for run_id in report.submit_run_ids:
            ctx.sender.send(SUBMIT_RUN, run_id)
        announce_all(ctx.sender, report.fired_triggers)

    @app.task(name=CONFIRM_HINT, bind=True, acks_late=True, ignore_result=True)
    def confirm_hint(self: Task, workspace: str, databricks_run_id: str) -> None:
        # A hint is confirmed with one runs/get; losing this message costs only the lag
        # until the next (slower) poll sweep.
        report = record_hinted_run(
            ctx.sessions,
            ctx.workspaces,
            workspace=workspace,
            databricks_run_id=int(databricks_run_id),
            settings=ctx.settings,
        )
        for delivery_id in report.alert_delivery_ids:
            ctx.sender.send(DELIVER_ALERT, delivery_id)
        for run_id in report.submit_run_ids:
            ctx.sender.send(SUBMIT_RUN, run_id)
        announce_all(ctx.sender, report.fired_triggers)

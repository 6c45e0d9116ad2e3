"""Sending work to the Celery workers by task name.

``service`` never imports ``workers``: it sends messages by name through a Celery app
built from settings. A message is only a nudge: the row it names is already committed,
and the sweeper re-sends anything a lost message left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Protocol, runtime_checkable

from celery import Celery

from service.settings import Settings

log = logging.getLogger(__name__)

DISPATCH_EVENT = "lockgate.dispatch_event"
DISPATCH_EVENTS = "lockgate.dispatch_events"  # several events in one message
SUBMIT_RUN = "lockgate.submit_run"
POLL_RUNS = "lockgate.poll_runs"
SWEEP = "lockgate.sweep"
DELIVER_ALERT = "lockgate.deliver_alert"
CANCEL_RUN = "lockgate.cancel_run"
CONFIRM_HINT = "lockgate.confirm_hint"
WATCH_WORKSPACES = "lockgate.watch_workspaces"


class TaskSender(Protocol):
    def send(self, task_name: str, *args: str) -> None: ...


TaskMessage = tuple[str, tuple[str, ...]]  # (task name, args)


@runtime_checkable
class BatchTaskSender(TaskSender, Protocol):
    def send_many(self, messages: Sequence[TaskMessage]) -> None: ...


def send_all(sender: TaskSender, messages: Sequence[TaskMessage]) -> None:
    """Several messages at once: one round trip when the sender can batch them."""
    if isinstance(sender, BatchTaskSender):
        sender.send_many(messages)
        return
    for task_name, args in messages:
        sender.send(task_name, *args)


# Events per dispatch_events message: a burst costs one message per chunk, not per event,
# while the chunks still spread over the workers' threads.
DISPATCH_CHUNK = 16


def dispatch_messages(event_ids: Sequence[str]) -> list[TaskMessage]:
    """Messages that dispatch these events: one event alone, more in chunks."""
    if len(event_ids) == 1:
        return [(DISPATCH_EVENT, (event_ids[0],))]
    return [
        (DISPATCH_EVENTS, tuple(event_ids[i : i + DISPATCH_CHUNK]))
        for i in range(0, len(event_ids), DISPATCH_CHUNK)
    ]


def redis_url_or_fail(settings: Settings) -> str:
    if not settings.redis_url:
        raise RuntimeError("LOCKGATE_REDIS_URL is not set (`lockgate up` sets it for you)")
    return settings.redis_url


def make_celery(settings: Settings, name: str = "lockgate") -> Celery:
    """The Celery app both sides share: the API uses it only to publish."""
    url = redis_url_or_fail(settings)
    app = Celery(name, broker=url, set_as_current=False)
    app.conf.update(
        broker_connection_retry_on_startup=True,
        task_default_queue=f"{settings.queue_prefix}.tasks",
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # A message is acknowledged when its task is done, and handed out again if the
        # worker process died holding it: every task is safe to run twice (claims by
        # conditional update, idempotency tokens), so redelivery is the safe side.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # The CLI configures logging once; Celery must not replace it.
        worker_hijack_root_logger=False,
        worker_prefetch_multiplier=1,
        # A publish that cannot reach Redis gives up fast: the row is committed and the
        # sweeper re-sends it, so blocking the request would buy nothing.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        broker_transport_options={
            "global_keyprefix": f"{settings.queue_prefix}:",
            # Longer than any task holds its message (submissions take seconds; a poll
            # sweep is bounded by its lock), so a slow task is never handed out twice
            # while still running; waits longer than this live in the database.
            "visibility_timeout": settings.task_visibility_timeout_seconds,
        },
    )
    return app


class CeleryTaskSender:
    def __init__(self, app: Celery) -> None:
        self._app = app

    def send(self, task_name: str, *args: str) -> None:
        try:
            self._app.send_task(task_name, args=list(args))
        except Exception:
            # Deliberately broad: any publish failure is recovered by the sweeper.
            log.warning("could not enqueue %s; the sweeper will retry", task_name, exc_info=True)

    def send_many(self, messages: Sequence[TaskMessage]) -> None:
        """One Redis pipeline for all of them (kombu's publish batch, where it has one)."""
        if not messages:
            return
        try:
            with self._app.producer_or_acquire() as producer:
                batch = getattr(producer, "batch", None)
                with batch() if batch is not None else nullcontext():
                    for n, (task_name, args) in enumerate(messages):
                        # The first message declares the queue (once per process, cached);
                        # checking that again for each of the others costs a sixth of a send.
                        declare = {} if n == 0 else {"declare": ()}
                        self._app.send_task(
                            task_name, args=list(args), producer=producer, **declare
                        )
        except Exception:
            # As in send: the rows are committed, the sweeper re-sends what is missing.
            log.warning(
                "could not enqueue %d messages; the sweeper will retry",
                len(messages),
                exc_info=True,
            )

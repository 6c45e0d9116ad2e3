"""SIGTERM for the worker: finish what is in hand for a grace period, then hand it back.

Celery's warm shutdown (its answer to SIGTERM) stops consuming and waits for running
tasks with no limit, and the threads pool cannot cut a task short. This bootstep bounds
the wait: when the grace period is over and tasks still run, the messages of every task
the worker still holds (running, prefetched or waiting for an ETA) go back to the head
of the queue, the acks of tasks that did finish are flushed, and the process exits 0.
Another worker then runs the handed-back tasks. That is safe because every task is safe
to run twice (claims by conditional update, idempotency tokens): the abandoned thread's
uncommitted transaction rolls back when the process ends, and a Databricks call it had
made is answered with the same run when the task is redone.

Without the hand-back, a message the dying worker held would wait in Redis for the
visibility timeout (an hour) before another worker saw it.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from celery import bootsteps, signals
from celery.worker import state
from celery.worker.request import Request

log = logging.getLogger(__name__)


def shutdown_grace_step(grace_seconds: float) -> type[bootsteps.StartStopStep]:
    """A worker bootstep class that bounds the warm shutdown to ``grace_seconds``."""

    class ShutdownGrace(bootsteps.StartStopStep):
        requires = ("celery.worker.components:Pool",)

        def start(self, worker: Any) -> None:
            self._worker = worker
            self._armed = threading.Event()
            signals.worker_shutting_down.connect(
                self._on_shutting_down, sender=worker.hostname, weak=False
            )

        def _on_shutting_down(self, how: str = "", **_: Any) -> None:
            # Runs in the SIGTERM handler: only start the clock here.
            if how != "Warm" or self._armed.is_set():
                return
            self._armed.set()
            timer = threading.Timer(grace_seconds, hand_back_and_exit, args=(self._worker,))
            timer.daemon = True  # a shutdown finished in time exits without waiting for it
            timer.start()

    return ShutdownGrace


def hand_back_and_exit(worker: Any) -> None:
    """Requeues every message the worker still holds, then ends the process with 0."""
    # A request's own flag, not its message's state: a finished task's ack may still be
    # queued in the event loop, and is sent below, not handed back.
    held = [r for r in tuple(state.reserved_requests) if not r.acknowledged]
    running = sum(1 for r in held if r.time_start)
    for request in held:
        _requeue(request)
    # Acks of tasks that finished during the grace period wait in the event loop, which
    # no longer runs; closing it sends them, so those tasks are not redone.
    hub = getattr(worker, "hub", None)
    if hub is not None:
        try:
            hub.close()
        except Exception:
            log.warning("could not flush pending acks", exc_info=True)
    log.warning(
        "shutdown grace period over: handed back %d tasks (%d were running); exiting",
        len(held),
        running,
    )
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(0)  # the running task threads cannot be stopped otherwise


def _requeue(request: Request) -> None:
    # Marked first, so a task finishing meanwhile does not queue an ack for a message
    # that is already back in the queue.
    request.acknowledged = True
    try:
        request.message.reject(requeue=True)
    except Exception:
        # The message stays unacked; Redis hands it out again after the visibility timeout.
        log.warning("could not hand back task %s", request.id, exc_info=True)

"""A run's state changes turned into webhook notifications, the moment they happen.

The scheduler calls these hooks with the store lock held, in the same step that changes
the state: a run starting (it leaves the queue) or ending, a task run starting (its
process, or its control logic, begins) or ending. Each looks up the destinations the
run's or task's own settings name for the event (``_webhook_settings``), decides with
``_notification_policy``, builds the payload (``_notification_payloads``) and hands it
to the sender, which only queues: nothing here waits on the network.

Job-level settings are the ones the run started with (``RunRecord.raw_settings``: the
job's settings at run-now, or the runs/submit body); task-level ones are the task's own.
``health`` rules on ``RUN_DURATION_SECONDS`` arm a timer when the run (or task run)
starts; if it is still going when the timer fires, ``on_duration_warning_threshold_exceeded``
goes out once. Iterations of a for-each task raise nothing (the for-each task run does).
A repaired run raises its end event again when it ends again (and no second start).
Runs ended by a restart (``_terminations.end_interrupted``) raise nothing either: the
process that could have sent a notice is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, suppress
from typing import Any

from ._delayed_calls import DelayedCalls
from ._notification_payloads import run_event_payload, task_event_payload
from ._notification_policy import run_end_event, task_end_event, task_start_notified
from ._records import RunRecord, TaskRunRecord
from ._webhook_sender import WebhookSender
from ._webhook_settings import (
    NotificationEvent,
    destination_ids,
    duration_warning_seconds,
    notification_settings,
)


class RunNotifications:
    def __init__(
        self,
        *,
        workspace_id: int,
        lock: AbstractContextManager[Any],
        timers: DelayedCalls,
        sender: WebhookSender,
    ) -> None:
        self._workspace_id = workspace_id
        self._lock = lock
        self._timers = timers
        self._sender = sender
        self._duration_timers: dict[int, int] = {}  # run or task run id -> timer handle
        self.closed = False  # the backend is shutting down: no more notices

    # -- hooks (store lock held) --------------------------------------------------------

    def run_started(self, run: RunRecord) -> None:
        if self.closed:
            return
        self._send_run(run, NotificationEvent.ON_START)
        self._arm_duration_warning(run.run_id, run.raw_settings, lambda: self._run_too_long(run))

    def run_ended(self, run: RunRecord) -> None:
        self._disarm(run.run_id)
        if self.closed or run.termination is None:
            return
        event = run_end_event(run.termination.result_state, notification_settings(run.raw_settings))
        if event is not None:
            self._send_run(run, event)

    def task_started(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        if self.closed or attempt.for_each_parent is not None:
            return
        settings = attempt.task.raw
        if task_start_notified(attempt.attempt_number, notification_settings(settings)):
            self._send_task(run, attempt, NotificationEvent.ON_START)
        self._arm_duration_warning(
            attempt.run_id, settings, lambda: self._task_too_long(run, attempt)
        )

    def task_ended(self, run: RunRecord, attempt: TaskRunRecord, *, will_retry: bool) -> None:
        """An attempt ended; only one that started (has a start time) raises anything."""
        self._disarm(attempt.run_id)
        if self.closed or attempt.for_each_parent is not None or not attempt.start_time:
            return
        if attempt.termination is None:
            return
        event = task_end_event(
            attempt.termination.result_state,
            notification_settings(attempt.task.raw),
            will_retry=will_retry,
        )
        if event is not None:
            self._send_task(run, attempt, event)

    # -- duration warnings (timer thread) -------------------------------------------------

    def _arm_duration_warning(
        self, key: int, settings: Mapping[str, Any], fire: Callable[[], None]
    ) -> None:
        seconds = duration_warning_seconds(settings)
        if seconds is None or not destination_ids(settings, NotificationEvent.ON_DURATION_WARNING):
            return
        with suppress(RuntimeError):  # raised when the timer thread is shutting down
            self._duration_timers[key] = self._timers.call_later(seconds, fire)

    def _disarm(self, key: int) -> None:
        handle = self._duration_timers.pop(key, None)
        if handle is not None:
            self._timers.cancel(handle)

    def _run_too_long(self, run: RunRecord) -> None:
        with self._lock:
            self._duration_timers.pop(run.run_id, None)
            if not self.closed and not run.is_terminal:
                self._send_run(run, NotificationEvent.ON_DURATION_WARNING)

    def _task_too_long(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        with self._lock:
            self._duration_timers.pop(attempt.run_id, None)
            if not self.closed and not attempt.is_terminal:
                self._send_task(run, attempt, NotificationEvent.ON_DURATION_WARNING)

    # -- payloads -----------------------------------------------------------------------

    def _send_run(self, run: RunRecord, event: NotificationEvent) -> None:
        ids = destination_ids(run.raw_settings, event)
        if ids:
            payload = run_event_payload(
                event,
                workspace_id=self._workspace_id,
                run_id=run.run_id,
                job_id=run.job_id,
                job_name=_job_name(run),
            )
            self._sender.send(ids, payload)

    def _send_task(self, run: RunRecord, attempt: TaskRunRecord, event: NotificationEvent) -> None:
        ids = destination_ids(attempt.task.raw, event)
        if ids:
            payload = task_event_payload(
                event,
                workspace_id=self._workspace_id,
                task_key=attempt.task_key,
                task_run_id=attempt.run_id,
                parent_run_id=run.run_id,
                job_id=run.job_id,
                job_name=_job_name(run),
            )
            self._sender.send(ids, payload)


def _job_name(run: RunRecord) -> str:
    return run.job.spec.name if run.job is not None else run.run_name

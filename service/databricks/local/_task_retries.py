"""Task retries: a failed (or, with ``retry_on_timeout``, timed-out) attempt is followed by
a new attempt (new task run id, ``attempt_number`` + 1) after
``min_retry_interval_millis``, up to ``max_retries`` (-1: without limit).

This applies to every kind of task that can fail, for_each_task included: a new attempt
of a for-each task resolves its inputs again and runs all its iterations anew (each
iteration with its own retries, from the inner task's settings). An iteration that a
stop of its for-each task (its timeout, a cancel) ended is not retried.

A mixin of ``RunScheduler``: runs under the store lock, as all its transitions do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._delayed_calls import DelayedCalls
from ._records import RunRecord, TaskRunRecord
from ._states import LifeCycleState, ResultState, Termination, TerminationCode
from ._store import RunStore
from ._task_settings import TaskSpec
from ._time import now_ms


class TaskRetries:
    _store: RunStore
    _lock: Any
    _timers: DelayedCalls
    _closed: bool

    if TYPE_CHECKING:  # provided by RunScheduler and ControlTasks

        def _new_attempt(
            self,
            run: RunRecord,
            task: TaskSpec,
            attempt_number: int,
            *,
            state: LifeCycleState = LifeCycleState.BLOCKED,
            original_attempt_run_id: int = 0,
            for_each_parent: TaskRunRecord | None = None,
            iteration_index: int | None = None,
        ) -> TaskRunRecord: ...

        def _make_ready(self, run: RunRecord, attempt: TaskRunRecord) -> bool: ...

        def _advance(self, run: RunRecord) -> None: ...

        def _advance_iterations(self, run: RunRecord, parent: TaskRunRecord) -> None: ...

    def _should_retry(
        self, run: RunRecord, attempt: TaskRunRecord, termination: Termination
    ) -> bool:
        if run.is_stopping or self._closed:
            return False
        parent = attempt.for_each_parent
        if parent is not None and parent.stop_reason is not None:
            return False  # its for-each task is being stopped as a whole
        if termination.code is TerminationCode.INVALID_RUN_CONFIGURATION:
            return False  # it can never run here: a retry would fail the same way
        task = attempt.task
        retryable = termination.result_state is ResultState.FAILED or (
            termination.result_state is ResultState.TIMEDOUT and task.retry_on_timeout
        )
        return retryable and (task.max_retries == -1 or attempt.attempt_number < task.max_retries)

    def _schedule_retry(self, run: RunRecord, failed: TaskRunRecord) -> None:
        retry = self._new_attempt(
            run,
            failed.task,
            failed.attempt_number + 1,
            state=LifeCycleState.WAITING_FOR_RETRY,
            original_attempt_run_id=failed.original_attempt_run_id,
            for_each_parent=failed.for_each_parent,
            iteration_index=failed.iteration_index,
        )
        retry.repair_id = failed.repair_id
        # min_retry_interval_millis counts from the start of the failed attempt.
        due_ms = failed.start_time + failed.task.min_retry_interval_millis
        delay = max(0.0, (due_ms - now_ms()) / 1000)
        self._timers.call_later(delay, lambda: self._retry_due(run, retry))

    def _retry_due(self, run: RunRecord, retry: TaskRunRecord) -> None:
        with self._lock:
            waiting = retry.life_cycle_state is LifeCycleState.WAITING_FOR_RETRY
            if waiting and not run.is_stopping and self._make_ready(run, retry):
                if retry.for_each_parent is not None:
                    self._advance_iterations(run, retry.for_each_parent)
                self._advance(run)
            self._store.touch(run)

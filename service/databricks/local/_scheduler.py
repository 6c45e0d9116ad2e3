"""Runs a run's task graph: one local process per process task attempt; control tasks
(condition, for-each, run-job) decided here.

Lifecycle of a run: QUEUED (only while its job is at ``max_concurrent_runs`` and
queueing is on) -> PENDING -> RUNNING -> (TERMINATING while a cancel or timeout stops
its processes) -> TERMINATED; or SKIPPED at once when the job is at its limit and does
not queue. A repair takes a terminated run back to RUNNING with new attempts of the
tasks it reruns. Each task: BLOCKED (waiting on upstream tasks) -> PENDING (waiting for
a worker thread) -> RUNNING -> TERMINATED, with a new attempt (new task run id,
attempt_number + 1) in WAITING_FOR_RETRY between failed attempts.

Threads: request handlers call ``start``, ``cancel`` and ``repair``; worker threads run
process attempts (``_process_attempts``); one timer thread fires retry intervals
(``_task_retries``), run timeouts and control-task timeouts (``_control_tasks``). Every
state change happens under the store lock, and every changed run is ``touch``-ed so the
store writes it when the lock is released; no thread holds the lock while starting or
waiting on a process. Nothing here blocks a request handler.

Webhook notifications: a run starting (``_begin``) or ending (``_close_run``) and a task
run starting or ending (``_end``) tell ``RunNotifications`` in the same step, which
queues the posts (``_run_notifications``).
"""

from __future__ import annotations

import logging

from . import _terminations as ends
from ._config import LocalBackendConfig
from ._control_tasks import ControlTasks
from ._dag import BlockedTaskDecision, decide_blocked_task, decide_run_termination
from ._delayed_calls import DelayedCalls
from ._process_attempts import ProcessAttempts
from ._records import RepairRecord, RunRecord, TaskOutput, TaskRunRecord
from ._run_notifications import RunNotifications
from ._states import (
    LifeCycleState,
    ResultState,
    Termination,
    TerminationCode,
)
from ._store import RunStore
from ._task_process import kill_process_group
from ._task_retries import TaskRetries
from ._task_settings import TaskKind, TaskSpec
from ._time import now_ms
from ._webhook_sender import WebhookSender

logger = logging.getLogger(__name__)


class RunScheduler(ControlTasks, TaskRetries):
    def __init__(
        self, *, config: LocalBackendConfig, store: RunStore, webhooks: WebhookSender
    ) -> None:
        self._config = config
        self._store = store
        self._lock = store.lock
        self._timers = DelayedCalls()
        self._notifications = RunNotifications(
            workspace_id=config.workspace_id, lock=store.lock, timers=self._timers, sender=webhooks
        )
        self._processes = ProcessAttempts(
            config=config,
            lock=store.lock,
            on_end=self._end_attempt,
            on_start=self._notifications.task_started,
            touch=store.touch,
        )
        self._run_timeouts: dict[int, int] = {}  # run id -> timer handle
        self._closed = False

    # -- called by request handlers ---------------------------------------------------

    def start(self, run: RunRecord) -> None:
        """Start (or queue, or skip) a run that was just added to the store."""
        with self._lock:
            self._store.touch(run)
            job = run.job
            if job is not None:
                limit = job.spec.max_concurrent_runs
                running = self._store.running_runs_of_job(job.job_id, other_than=run.run_id)
                if running >= limit:
                    queues = job.queue_enabled if run.queue_enabled is None else run.queue_enabled
                    if queues and limit > 0:
                        run.life_cycle_state = LifeCycleState.QUEUED
                        run.queued_time = now_ms()
                        run.queue_reason = (
                            f"Queued: the job is at its limit of {limit} concurrent run(s)."
                        )
                        self._store.enqueue(run)
                    else:
                        self._close_run(
                            run, LifeCycleState.SKIPPED, ends.concurrency_limit_reached(limit)
                        )
                    return
            self._begin(run)

    def cancel(self, run: RunRecord) -> None:
        """Stop a run: kill its processes; tasks not yet started end cancelled. Asynchronous."""
        with self._lock:
            self._stop(run, ends.user_cancelled())

    def repair(self, run: RunRecord, rerun_keys: list[str]) -> int:
        """Rerun ``rerun_keys`` (in settings order) of a terminated run; returns the repair id."""
        with self._lock:
            now = now_ms()
            if not run.repair_history:
                original = RepairRecord(
                    repair_id=None,
                    start_time=run.start_time,
                    end_time=run.end_time,
                    task_run_ids=[a.run_id for a in run.latest_attempts.values()],
                    life_cycle_state=run.life_cycle_state,
                    termination=run.termination,
                )
                run.repair_history.append(original)
            repair = RepairRecord(
                repair_id=self._store.new_run_id(), start_time=now, task_run_ids=[]
            )
            for key in rerun_keys:
                previous = run.latest_attempts[key]
                attempt = self._new_attempt(run, previous.task, previous.attempt_number + 1)
                attempt.repair_id = repair.repair_id
                repair.task_run_ids.append(attempt.run_id)
            run.repair_history.append(repair)
            run.termination = None
            run.stop_reason = None
            run.state_message = ""
            run.end_time = 0
            run.life_cycle_state = LifeCycleState.RUNNING
            self._store.mark_unfinished(run)
            self._store.touch(run)
            self._advance(run)
            assert repair.repair_id is not None
            return repair.repair_id

    def close(self) -> None:
        """Kill every task process and stop the threads (the backend is shutting down)."""
        with self._lock:
            self._closed = True
            self._notifications.closed = True
            self._processes.closed = True
            for run in self._store.unfinished_runs():
                for attempt in self._running_attempts(run):
                    if attempt.process is not None:
                        kill_process_group(attempt.process)
        self._timers.close()
        self._processes.close()

    # -- run transitions (store lock held) ---------------------------------------------

    def _begin(self, run: RunRecord) -> None:
        run.life_cycle_state = LifeCycleState.PENDING
        run.queue_reason = None
        run.start_time = now_ms()
        if run.queued_time:
            run.dequeued_time = run.start_time  # queue_duration = start_time - queued_time
        self._notifications.run_started(run)
        for task in run.tasks_spec:
            self._new_attempt(run, task, 0)
        if run.timeout_seconds > 0:
            run_id, timeout = run.run_id, run.timeout_seconds
            self._run_timeouts[run.run_id] = self._timers.call_later(
                timeout, lambda: self._on_run_timeout(run_id, timeout)
            )
        self._advance(run)

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
    ) -> TaskRunRecord:
        attempt = TaskRunRecord(
            run_id=self._store.new_run_id(),
            parent_run_id=run.run_id,
            task=task,
            attempt_number=attempt_number,
            original_attempt_run_id=original_attempt_run_id,
            life_cycle_state=state,
            created_time=now_ms(),
            for_each_parent=for_each_parent,
            iteration_index=iteration_index,
        )
        attempt.original_attempt_run_id = original_attempt_run_id or attempt.run_id
        if for_each_parent is not None:
            for_each_parent.iterations.append(attempt)
        else:
            run.latest_attempts[task.task_key] = attempt
            run.attempts.append(attempt)
        self._store.add_task_run(attempt)
        self._store.touch(run)
        return attempt

    def _advance(self, run: RunRecord) -> None:
        """Unblock what can run, skip what cannot, and end the run when every task has."""
        if run.is_terminal:
            return
        self._store.touch(run)
        changed = not run.is_stopping
        while changed:
            changed = False
            for attempt in list(run.latest_attempts.values()):
                if attempt.life_cycle_state is LifeCycleState.BLOCKED:
                    changed |= self._try_unblock(run, attempt)
            if run.is_terminal:  # a child run ended at once and finished this run
                return
        if all(attempt.is_terminal for attempt in run.latest_attempts.values()):
            self._finish(run)

    def _try_unblock(self, run: RunRecord, attempt: TaskRunRecord) -> bool:
        """Returns True when the attempt ended right away (which may unblock others)."""
        task = attempt.task
        upstream = [run.latest_attempts[key] for key in task.depends_on]
        if not all(item.termination is not None for item in upstream):
            return False
        results: list[ResultState] = []
        for item in upstream:
            assert item.termination is not None
            wanted = task.dependency_outcomes.get(item.task_key)
            not_taken = wanted is not None and item.condition_outcome != wanted
            results.append(ResultState.EXCLUDED if not_taken else item.termination.result_state)
        decision = decide_blocked_task(task.run_if, results)
        if decision is BlockedTaskDecision.UPSTREAM_FAILED:
            return self._end(attempt, ends.upstream_failed())
        if decision is BlockedTaskDecision.UPSTREAM_CANCELED:
            return self._end(attempt, ends.upstream_cancelled())
        if decision is BlockedTaskDecision.EXCLUDED:
            return self._end(attempt, ends.excluded())
        return self._make_ready(run, attempt)

    def _make_ready(self, run: RunRecord, attempt: TaskRunRecord) -> bool:
        """Start an attempt; True when it ended at once (disabled, condition ...)."""
        task = attempt.task
        if task.disabled:
            return self._end(attempt, ends.disabled())
        if task.kind is TaskKind.UNSUPPORTED:
            message = (
                f"The local Databricks backend cannot run {task.type_field} tasks "
                f"(task {task.task_key})."
            )
            return self._end(
                attempt,
                ends.failed(message, TerminationCode.INVALID_RUN_CONFIGURATION),
                TaskOutput(error=message),
            )
        if task.kind is TaskKind.CONDITION:
            return self._evaluate_condition(run, attempt)
        if task.kind is TaskKind.RUN_JOB:
            return self._start_child_run(run, attempt)
        if task.kind is TaskKind.FOR_EACH:
            return self._start_iterations(run, attempt)
        self._processes.submit(run, attempt)
        return False

    def _finish(self, run: RunRecord) -> None:
        latest = run.latest_attempts
        results = {key: a.termination.result_state for key, a in latest.items() if a.termination}
        messages = {key: a.state_message for key, a in latest.items()}
        termination = run.stop_reason or decide_run_termination(run.tasks_spec, results, messages)
        self._close_run(run, LifeCycleState.TERMINATED, termination)

    def _close_run(self, run: RunRecord, state: LifeCycleState, termination: Termination) -> None:
        run.life_cycle_state = state
        run.termination = termination
        run.state_message = termination.message
        run.queue_reason = None
        run.end_time = now_ms()
        if run.queued_time and not run.dequeued_time:  # cancelled while queued
            run.dequeued_time = run.end_time
        if run.repair_history:
            latest = run.repair_history[-1]
            latest.end_time, latest.life_cycle_state = run.end_time, state
            latest.termination = termination
        handle = self._run_timeouts.pop(run.run_id, None)
        if handle is not None:
            self._timers.cancel(handle)
        self._store.mark_finished(run)
        self._store.touch(run)
        self._notifications.run_ended(run)
        logger.info(
            "local run %s ended %s",
            run.run_id,
            termination.result_state.value,
            extra={"databricks_run_id": run.run_id},
        )
        if run.parent_task_run_id is not None:
            self._child_run_ended(run)
        if run.job is not None and not self._closed:
            self._start_queued_runs(run.job.job_id, run.job.spec.max_concurrent_runs)

    def _start_queued_runs(self, job_id: int, limit: int) -> None:
        while self._store.running_runs_of_job(job_id, other_than=0) < limit:
            queued = self._store.dequeue(job_id)
            if queued is None:
                return
            self._begin(queued)

    def _stop(self, run: RunRecord, reason: Termination) -> None:
        if run.is_terminal or run.is_stopping:
            return
        run.stop_reason = reason
        self._store.touch(run)
        if run.life_cycle_state is LifeCycleState.QUEUED:
            self._close_run(run, LifeCycleState.TERMINATED, reason)
            return
        run.life_cycle_state = LifeCycleState.TERMINATING
        for attempt in list(run.latest_attempts.values()):
            if attempt.life_cycle_state is LifeCycleState.BLOCKED:
                self._end(attempt, ends.upstream_cancelled())
            else:
                self._stop_attempt(run, attempt, reason)
        self._advance(run)

    def _stop_attempt(self, run: RunRecord, attempt: TaskRunRecord, reason: Termination) -> None:
        if attempt.is_terminal:
            return
        if attempt.life_cycle_state is not LifeCycleState.RUNNING:  # PENDING, WAITING_FOR_RETRY
            self._end(attempt, ends.cancelled_by_run_end(reason))
            return
        attempt.stop_reason = reason
        if attempt.process is not None:
            # The worker thread ends the attempt once its process is gone.
            kill_process_group(attempt.process)
        elif attempt.child_run_id is not None:
            self._stop(self._store.get_run(attempt.child_run_id), reason)
        elif attempt.task.kind is TaskKind.FOR_EACH:
            for iteration in attempt.latest_iterations().values():
                self._stop_attempt(run, iteration, reason)
            self._advance_iterations(run, attempt)

    def _on_run_timeout(self, run_id: int, timeout_seconds: int) -> None:
        with self._lock:
            self._run_timeouts.pop(run_id, None)
            self._stop(self._store.get_run(run_id), ends.run_timed_out(timeout_seconds))

    def _running_attempts(self, run: RunRecord) -> list[TaskRunRecord]:
        found = []
        for attempt in run.latest_attempts.values():
            found.append(attempt)
            found.extend(attempt.latest_iterations().values())
        return [attempt for attempt in found if not attempt.is_terminal]

    # -- task attempts -----------------------------------------------------------------

    def _end(
        self, attempt: TaskRunRecord, termination: Termination, output: TaskOutput | None = None
    ) -> bool:
        """End an attempt that never ran or just stopped; True (it ended) for _try_unblock."""
        attempt.life_cycle_state = LifeCycleState.TERMINATED
        attempt.termination = termination
        attempt.state_message = termination.message
        attempt.end_time = now_ms()
        attempt.process = None
        if output is not None:
            attempt.output = output
        if attempt.start_time:  # only an attempt that started raises a notice
            run = self._store.get_run(attempt.parent_run_id)
            will_retry = self._should_retry(run, attempt, termination)
            self._notifications.task_ended(run, attempt, will_retry=will_retry)
        return True

    def _end_attempt(
        self, run: RunRecord, attempt: TaskRunRecord, termination: Termination, output: TaskOutput
    ) -> None:
        """An attempt that was running has ended (a process, a child run, iterations)."""
        self._end(attempt, termination, output)
        if self._should_retry(run, attempt, termination):
            self._schedule_retry(run, attempt)
        if attempt.for_each_parent is not None:
            self._advance_iterations(run, attempt.for_each_parent)
        self._advance(run)

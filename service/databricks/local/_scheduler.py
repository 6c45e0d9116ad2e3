"""Runs a run's task graph on background threads, one local process per task attempt.

Lifecycle of a run: QUEUED (only while its job is at ``max_concurrent_runs`` and
queueing is on) -> PENDING -> RUNNING -> (TERMINATING while a cancel or timeout stops
its processes) -> TERMINATED; or SKIPPED at once when the job is at its limit and does
not queue. Each task: BLOCKED (waiting on upstream tasks) -> PENDING (waiting for one of
``max_parallel_tasks`` worker threads) -> RUNNING -> TERMINATED, with a new attempt
(new task run id, attempt_number + 1) in WAITING_FOR_RETRY between failed attempts.

Threads: request handlers call ``start`` and ``cancel``; a bounded pool runs attempts
(a worker waits on its process, so at most ``max_parallel_tasks`` processes run at
once); one timer thread fires retry intervals and run timeouts. Every state change
happens under the store lock; no thread holds it while starting or waiting on a
process. Nothing here blocks a request handler.
"""

from __future__ import annotations

import logging
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

from . import _terminations as ends
from ._config import LocalBackendConfig
from ._dag import BlockedTaskDecision, decide_blocked_task, decide_run_termination
from ._delayed_calls import DelayedCalls
from ._job_settings import TaskKind
from ._notebook_source import TaskSetupError
from ._records import RunRecord, TaskOutput, TaskRunRecord
from ._states import LifeCycleState, ResultState, Termination, TerminationCode
from ._store import RunStore
from ._task_inputs import build_invocation, snapshot_inputs
from ._task_process import collect_outcome, kill_process_group, start_task_process

logger = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


class RunScheduler:
    def __init__(self, *, config: LocalBackendConfig, store: RunStore) -> None:
        self._config = config
        self._store = store
        self._lock = store.lock
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, config.max_parallel_tasks), thread_name_prefix="local-task"
        )
        self._timers = DelayedCalls()
        self._run_timeouts: dict[int, int] = {}  # run id -> timer handle
        self._closed = False

    # -- called by request handlers ---------------------------------------------------

    def start(self, run: RunRecord) -> None:
        """Start (or queue, or skip) a run that was just added to the store."""
        with self._lock:
            job = run.job
            if job is not None:
                limit = job.spec.max_concurrent_runs
                running = self._store.running_runs_of_job(job.job_id, other_than=run.run_id)
                if running >= limit:
                    if job.spec.queue_enabled and limit > 0:
                        run.life_cycle_state = LifeCycleState.QUEUED
                        run.queue_reason = (
                            f"Queued: the job is at its limit of {limit} concurrent run(s)."
                        )
                        self._store.enqueue(run)
                    else:
                        self._skip(run, ends.concurrency_limit_reached(limit))
                    return
            self._begin(run)

    def cancel(self, run: RunRecord) -> None:
        """Stop a run: kill its processes; tasks not yet started end cancelled. Asynchronous."""
        with self._lock:
            self._stop(run, ends.user_cancelled())

    def close(self) -> None:
        """Kill every task process and stop the threads (the backend is shutting down)."""
        with self._lock:
            self._closed = True
            for run in self._store.unfinished_runs():
                for attempt in run.latest_attempts.values():
                    if attempt.process is not None:
                        kill_process_group(attempt.process)
        self._timers.close()
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- run transitions (store lock held) ---------------------------------------------

    def _begin(self, run: RunRecord) -> None:
        run.life_cycle_state = LifeCycleState.PENDING
        run.queue_reason = None
        for task in run.tasks_spec:
            attempt = TaskRunRecord(
                run_id=self._store.new_run_id(),
                parent_run_id=run.run_id,
                task=task,
                attempt_number=0,
                original_attempt_run_id=0,
                life_cycle_state=LifeCycleState.BLOCKED,
                created_time=now_ms(),
            )
            attempt.original_attempt_run_id = attempt.run_id
            self._add_attempt(run, attempt)
        if run.timeout_seconds > 0:
            run_id, timeout = run.run_id, run.timeout_seconds
            self._run_timeouts[run.run_id] = self._timers.call_later(
                timeout, lambda: self._on_run_timeout(run_id, timeout)
            )
        self._advance(run)

    def _advance(self, run: RunRecord) -> None:
        """Unblock what can run, skip what cannot, and end the run when every task has."""
        if run.is_terminal:
            return
        changed = not run.is_stopping
        while changed:
            changed = False
            for attempt in run.latest_attempts.values():
                if attempt.life_cycle_state is LifeCycleState.BLOCKED:
                    changed |= self._try_unblock(run, attempt)
        if all(attempt.is_terminal for attempt in run.latest_attempts.values()):
            self._finish(run)

    def _try_unblock(self, run: RunRecord, attempt: TaskRunRecord) -> bool:
        """Returns True when the attempt ended right away (which may unblock others)."""
        upstream = [run.latest_attempts[key] for key in attempt.task.depends_on]
        if not all(item.termination is not None for item in upstream):
            return False
        results = [item.termination.result_state for item in upstream if item.termination]
        decision = decide_blocked_task(attempt.task.run_if, results)
        if decision is BlockedTaskDecision.UPSTREAM_FAILED:
            return self._end(attempt, ends.upstream_failed())
        if decision is BlockedTaskDecision.UPSTREAM_CANCELED:
            return self._end(attempt, ends.upstream_cancelled())
        if decision is BlockedTaskDecision.EXCLUDED:
            return self._end(attempt, ends.excluded())
        return self._make_ready(run, attempt)

    def _make_ready(self, run: RunRecord, attempt: TaskRunRecord) -> bool:
        task = attempt.task
        if task.disabled:
            return self._end(attempt, ends.disabled())
        if task.kind is TaskKind.UNSUPPORTED:
            message = (
                f"The local Databricks backend cannot run {task.type_field} tasks "
                f"(task {task.task_key}); it runs notebook_task and spark_python_task only."
            )
            return self._end(
                attempt,
                ends.failed(message, TerminationCode.INVALID_RUN_CONFIGURATION),
                TaskOutput(error=message),
            )
        attempt.life_cycle_state = LifeCycleState.PENDING
        if not self._closed:
            self._pool.submit(self._execute_attempt, run, attempt)
        return False

    def _finish(self, run: RunRecord) -> None:
        latest = run.latest_attempts
        results = {key: a.termination.result_state for key, a in latest.items() if a.termination}
        messages = {key: a.state_message for key, a in latest.items()}
        termination = run.stop_reason or decide_run_termination(run.tasks_spec, results, messages)
        self._close_run(run, LifeCycleState.TERMINATED, termination)

    def _skip(self, run: RunRecord, termination: Termination) -> None:
        self._close_run(run, LifeCycleState.SKIPPED, termination)

    def _close_run(self, run: RunRecord, state: LifeCycleState, termination: Termination) -> None:
        run.life_cycle_state = state
        run.termination = termination
        run.state_message = termination.message
        run.queue_reason = None
        run.end_time = now_ms()
        handle = self._run_timeouts.pop(run.run_id, None)
        if handle is not None:
            self._timers.cancel(handle)
        self._store.mark_finished(run)
        logger.info(
            "local run %s ended %s",
            run.run_id,
            termination.result_state.value,
            extra={"databricks_run_id": run.run_id},
        )
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
        if run.life_cycle_state is LifeCycleState.QUEUED:
            self._close_run(run, LifeCycleState.TERMINATED, reason)
            return
        run.life_cycle_state = LifeCycleState.TERMINATING
        for attempt in run.latest_attempts.values():
            if attempt.is_terminal:
                continue
            if attempt.life_cycle_state is LifeCycleState.RUNNING:
                # The worker thread ends the attempt once its process is gone.
                attempt.stop_reason = reason
                if attempt.process is not None:
                    kill_process_group(attempt.process)
            elif attempt.life_cycle_state is LifeCycleState.BLOCKED:
                self._end(attempt, ends.upstream_cancelled())
            else:  # PENDING or WAITING_FOR_RETRY
                self._end(attempt, ends.cancelled_by_run_end(reason))
        self._advance(run)

    def _on_run_timeout(self, run_id: int, timeout_seconds: int) -> None:
        with self._lock:
            self._run_timeouts.pop(run_id, None)
            self._stop(self._store.get_run(run_id), ends.run_timed_out(timeout_seconds))

    # -- task attempts -----------------------------------------------------------------

    def _add_attempt(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        run.latest_attempts[attempt.task_key] = attempt
        run.attempts.append(attempt)
        self._store.add_task_run(attempt)

    def _end(
        self, attempt: TaskRunRecord, termination: Termination, output: TaskOutput | None = None
    ) -> bool:
        attempt.life_cycle_state = LifeCycleState.TERMINATED
        attempt.termination = termination
        attempt.state_message = termination.message
        attempt.end_time = now_ms()
        attempt.process = None
        if output is not None:
            attempt.output = output
        return True

    def _execute_attempt(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        try:
            self._execute(run, attempt)
        except Exception as exc:  # a bug here must not leave the run hanging forever
            logger.exception("local task run %s failed inside the backend", attempt.run_id)
            with self._lock:
                if not attempt.is_terminal:
                    message = f"Internal error in the local backend: {exc!r}"
                    self._end(attempt, ends.failed(message, TerminationCode.INTERNAL_ERROR))
                    self._advance(run)

    def _execute(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        with self._lock:
            if attempt.is_terminal or run.is_stopping or self._closed:
                return
            attempt.life_cycle_state = LifeCycleState.RUNNING
            attempt.start_time = now_ms()
            if run.life_cycle_state is LifeCycleState.PENDING:
                run.life_cycle_state = LifeCycleState.RUNNING
            inputs = snapshot_inputs(run, attempt, self._config.workspace_id)
            scratch_dir = self._config.runs_dir / str(run.run_id) / str(attempt.run_id)
            attempt.scratch_dir = scratch_dir
        try:
            invocation = build_invocation(attempt.task, inputs, self._config)
            process = start_task_process(
                invocation, scratch_dir=scratch_dir, dbfs_root=self._config.dbfs_root
            )
        except TaskSetupError as exc:
            with self._lock:
                termination = attempt.stop_reason or ends.failed(exc.message, exc.code)
                self._end_attempt(run, attempt, termination, TaskOutput(error=exc.message))
            return
        with self._lock:
            attempt.process = process
            stopped_meanwhile = attempt.stop_reason is not None
        if stopped_meanwhile:
            kill_process_group(process)
        timeout = attempt.task.timeout_seconds or None
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with self._lock:
                if attempt.stop_reason is None:
                    attempt.stop_reason = ends.task_timed_out(attempt.task.timeout_seconds)
            kill_process_group(process)
            returncode = process.wait()
        kill_process_group(process)  # whatever the task left running in its group
        outcome = collect_outcome(scratch_dir, returncode)
        with self._lock:
            if attempt.stop_reason is not None:
                termination = attempt.stop_reason
            elif outcome.succeeded:
                termination = ends.succeeded()
            else:
                termination = ends.failed(outcome.message)
            self._end_attempt(run, attempt, termination, outcome.output)

    def _end_attempt(
        self, run: RunRecord, attempt: TaskRunRecord, termination: Termination, output: TaskOutput
    ) -> None:
        self._end(attempt, termination, output)
        if self._should_retry(run, attempt, termination):
            self._schedule_retry(run, attempt)
        self._advance(run)

    def _should_retry(
        self, run: RunRecord, attempt: TaskRunRecord, termination: Termination
    ) -> bool:
        if run.is_stopping or self._closed:
            return False
        task = attempt.task
        retryable = termination.result_state is ResultState.FAILED or (
            termination.result_state is ResultState.TIMEDOUT and task.retry_on_timeout
        )
        return retryable and (task.max_retries == -1 or attempt.attempt_number < task.max_retries)

    def _schedule_retry(self, run: RunRecord, failed: TaskRunRecord) -> None:
        retry = TaskRunRecord(
            run_id=self._store.new_run_id(),
            parent_run_id=run.run_id,
            task=failed.task,
            attempt_number=failed.attempt_number + 1,
            original_attempt_run_id=failed.original_attempt_run_id,
            life_cycle_state=LifeCycleState.WAITING_FOR_RETRY,
            created_time=now_ms(),
        )
        self._add_attempt(run, retry)
        # min_retry_interval_millis counts from the start of the failed attempt.
        due_ms = failed.start_time + failed.task.min_retry_interval_millis
        delay = max(0.0, (due_ms - now_ms()) / 1000)
        self._timers.call_later(delay, lambda: self._retry_due(run, retry))

    def _retry_due(self, run: RunRecord, retry: TaskRunRecord) -> None:
        with self._lock:
            if retry.life_cycle_state is LifeCycleState.WAITING_FOR_RETRY and not run.is_stopping:
                self._make_ready(run, retry)

"""Running one task attempt as a local process, on a bounded pool of worker threads.

A worker thread takes the attempt from PENDING to RUNNING, builds what the process needs
(outside the store lock: it reads files), starts it, waits for it (up to the task's
``timeout_seconds``), and hands the outcome back to the scheduler through ``on_end``. At
most ``max_parallel_tasks`` processes run at once: one per worker thread.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

from . import _terminations as ends
from ._config import LocalBackendConfig
from ._notebook_source import TaskSetupError
from ._records import RunRecord, TaskOutput, TaskRunRecord
from ._states import LifeCycleState, Termination, TerminationCode
from ._task_inputs import build_invocation, snapshot_inputs
from ._task_process import collect_outcome, kill_process_group, start_task_process
from ._time import now_ms

logger = logging.getLogger(__name__)

EndAttempt = Callable[[RunRecord, TaskRunRecord, Termination, TaskOutput], None]
StartAttempt = Callable[[RunRecord, TaskRunRecord], None]


class ProcessAttempts:
    def __init__(
        self,
        *,
        config: LocalBackendConfig,
        lock: AbstractContextManager[Any],
        on_end: EndAttempt,
        on_start: StartAttempt,
        touch: Callable[[RunRecord], None],
    ) -> None:
        self._config = config
        self._lock = lock
        self._on_end = on_end
        self._on_start = on_start
        self._touch = touch
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, config.max_parallel_tasks), thread_name_prefix="local-task"
        )
        self.closed = False

    def submit(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        """Queue the attempt for a worker thread (store lock held)."""
        attempt.life_cycle_state = LifeCycleState.PENDING
        if not self.closed:
            self._pool.submit(self._execute_attempt, run, attempt)

    def close(self) -> None:
        self.closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _execute_attempt(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        try:
            self._execute(run, attempt)
        except Exception as exc:  # a bug here must not leave the run hanging forever
            logger.exception("local task run %s failed inside the backend", attempt.run_id)
            with self._lock:
                if not attempt.is_terminal:
                    message = f"Internal error in the local backend: {exc!r}"
                    self._on_end(
                        run,
                        attempt,
                        ends.failed(message, TerminationCode.INTERNAL_ERROR),
                        TaskOutput(error=message),
                    )

    def _execute(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        with self._lock:
            if attempt.is_terminal or attempt.stop_reason or run.is_stopping or self.closed:
                return
            attempt.life_cycle_state = LifeCycleState.RUNNING
            attempt.start_time = now_ms()
            if run.life_cycle_state is LifeCycleState.PENDING:
                run.life_cycle_state = LifeCycleState.RUNNING
            self._on_start(run, attempt)
            inputs = snapshot_inputs(run, attempt, self._config.workspace_id)
            scratch_dir = self._config.runs_dir / str(run.run_id) / str(attempt.run_id)
            attempt.scratch_dir = scratch_dir
            self._touch(run)
        try:
            invocation = build_invocation(attempt.task, inputs, self._config)
            process = start_task_process(
                invocation,
                task_run_id=attempt.run_id,
                scratch_dir=scratch_dir,
                config=self._config,
            )
        except TaskSetupError as exc:
            with self._lock:
                termination = attempt.stop_reason or ends.failed(
                    exc.message, TerminationCode(exc.code)
                )
                self._on_end(run, attempt, termination, TaskOutput(error=exc.message))
            return
        with self._lock:
            attempt.process = process
            attempt.process_group_id = process.pid
            self._touch(run)  # on file before anything else: see kill_orphaned_task_processes
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
            self._on_end(run, attempt, termination, outcome.output)

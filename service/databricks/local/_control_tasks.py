"""The control-flow tasks, decided by the scheduler itself: no process, no cluster.

condition_task ends at once with ``outcome`` "true"/"false" (its operands' references
resolved first). run_job_task starts a run of the other job (trigger RUN_JOB_TASK) and
ends with that run's result. for_each_task resolves its ``inputs`` to a JSON array and
runs one iteration of its inner task per item, at most ``concurrency`` at a time; it
fails when any iteration's latest attempt did not succeed.

A for-each or run-job task's own ``timeout_seconds`` runs from its start: past it, its
running iterations are killed (those not started end cancelled), or its child run is
cancelled, and the task ends TIMEDOUT, retried when ``retry_on_timeout`` says so.

A mixin of ``RunScheduler``: these methods run under the store lock, as all its
transitions do, and use its attempt bookkeeping.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.workflows.references import resolve_references

from . import _terminations as ends
from ._config import LocalBackendConfig
from ._control_flow import ConditionError, evaluate_condition, parse_for_each_inputs
from ._delayed_calls import DelayedCalls
from ._records import RunRecord, TaskOutput, TaskRunRecord
from ._run_notifications import RunNotifications
from ._states import (
    SUCCESSFUL_RESULTS,
    LifeCycleState,
    RunType,
    Termination,
    TerminationCode,
    TriggerType,
)
from ._store import RunStore
from ._task_inputs import reference_context
from ._task_settings import TaskSpec
from ._time import now_ms


class ControlTasks:
    _config: LocalBackendConfig
    _store: RunStore
    _lock: Any
    _timers: DelayedCalls
    _closed: bool
    _notifications: RunNotifications

    if TYPE_CHECKING:  # provided by RunScheduler

        def start(self, run: RunRecord) -> None: ...

        def _end(
            self,
            attempt: TaskRunRecord,
            termination: Termination,
            output: TaskOutput | None = None,
        ) -> bool: ...

        def _end_attempt(
            self,
            run: RunRecord,
            attempt: TaskRunRecord,
            termination: Termination,
            output: TaskOutput,
        ) -> None: ...

        def _make_ready(self, run: RunRecord, attempt: TaskRunRecord) -> bool: ...

        def _stop(self, run: RunRecord, reason: Termination) -> None: ...

        def _stop_attempt(
            self, run: RunRecord, attempt: TaskRunRecord, reason: Termination
        ) -> None: ...

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

    def _running(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        attempt.life_cycle_state = LifeCycleState.RUNNING
        attempt.start_time = now_ms()
        if run.life_cycle_state is LifeCycleState.PENDING:
            run.life_cycle_state = LifeCycleState.RUNNING
        self._notifications.task_started(run, attempt)

    def _evaluate_condition(self, run: RunRecord, attempt: TaskRunRecord) -> bool:
        self._running(run, attempt)
        context = reference_context(run, attempt, self._config.workspace_id)
        op, left, right = attempt.task.condition
        left, right = resolve_references(left, context), resolve_references(right, context)
        attempt.resolved_condition = (left, right)
        try:
            outcome = evaluate_condition(op, left, right)
        except ConditionError as exc:
            message = f"condition_task {attempt.task_key}: {exc}"
            return self._end(attempt, ends.failed(message), TaskOutput(error=message))
        attempt.condition_outcome = "true" if outcome else "false"
        return self._end(attempt, ends.succeeded(), TaskOutput())

    def _start_child_run(self, run: RunRecord, attempt: TaskRunRecord) -> bool:
        task = attempt.task
        job = self._store.find_job(task.run_job_id)
        if job is None:
            message = f"run_job_task {task.task_key}: Job {task.run_job_id} does not exist."
            return self._end(
                attempt,
                ends.failed(message, TerminationCode.RESOURCE_NOT_FOUND),
                TaskOutput(error=message),
            )
        self._running(run, attempt)
        context = reference_context(run, attempt, self._config.workspace_id)
        defaults = job.spec.parameter_defaults()
        overrides = {
            name: resolve_references(value, context)
            for name, value in task.run_job_parameters.items()
        }
        child = RunRecord(
            run_id=self._store.new_run_id(),
            run_type=RunType.JOB_RUN,
            trigger=TriggerType.RUN_JOB_TASK,
            run_name=job.spec.name,
            tasks_spec=job.spec.tasks,
            created_time=now_ms(),
            start_time=now_ms(),
            timeout_seconds=job.spec.timeout_seconds,
            creator_user_name=run.creator_user_name,
            job_id=job.job_id,
            job=job,
            job_parameters={**defaults, **overrides},
            job_parameter_defaults=defaults,
            raw_settings=dict(job.spec.raw),
            parent_task_run_id=attempt.run_id,
        )
        attempt.child_run_id = child.run_id
        self._store.add_run(child)
        self.start(child)
        self._arm_task_timeout(run, attempt)
        return attempt.is_terminal

    def _child_run_ended(self, child: RunRecord) -> None:
        assert child.parent_task_run_id is not None and child.termination is not None
        found = self._store.find_task_run(child.parent_task_run_id)
        if found is None or found.is_terminal:
            return
        parent_run = self._store.get_run(found.parent_run_id)
        result = child.termination.result_state
        if found.stop_reason is not None:
            termination = found.stop_reason
        elif result in SUCCESSFUL_RESULTS:
            termination = ends.succeeded()
        else:
            termination = ends.failed(
                f"Run {child.run_id} of job {child.job_id} ended {result.value}: "
                f"{child.state_message}"
            )
        self._end_attempt(parent_run, found, termination, TaskOutput(error=None))

    def _start_iterations(self, run: RunRecord, attempt: TaskRunRecord) -> bool:
        self._running(run, attempt)
        context = reference_context(run, attempt, self._config.workspace_id)
        try:
            attempt.iteration_inputs = parse_for_each_inputs(
                resolve_references(attempt.task.for_each_inputs, context)
            )
        except ValueError as exc:
            message = f"for_each_task {attempt.task_key}: {exc}"
            return self._end(attempt, ends.failed(message), TaskOutput(error=message))
        self._advance_iterations(run, attempt)
        self._arm_task_timeout(run, attempt)
        return attempt.is_terminal

    def _arm_task_timeout(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        timeout = attempt.task.timeout_seconds
        if timeout > 0 and not attempt.is_terminal and not self._closed:
            # Not cancelled when the task ends first: the call then finds it terminal.
            self._timers.call_later(timeout, lambda: self._control_task_timed_out(run, attempt))

    def _control_task_timed_out(self, run: RunRecord, attempt: TaskRunRecord) -> None:
        with self._lock:
            if attempt.is_terminal or attempt.stop_reason is not None or run.is_stopping:
                return
            timeout = attempt.task.timeout_seconds
            attempt.stop_reason = ends.task_timed_out(timeout)
            self._store.touch(run)
            if attempt.child_run_id is not None:
                # The child run ends cancelled; _child_run_ended then ends this task with
                # its stop reason (TIMEDOUT).
                child = self._store.get_run(attempt.child_run_id)
                self._stop(child, ends.parent_task_timed_out(attempt.task_key, timeout))
                return
            for iteration in attempt.latest_iterations().values():
                self._stop_attempt(run, iteration, attempt.stop_reason)
            self._advance_iterations(run, attempt)

    def _advance_iterations(self, run: RunRecord, parent: TaskRunRecord) -> None:
        """Start iterations up to ``concurrency``; end the for-each task after the last."""
        if parent.is_terminal or parent.iteration_inputs is None:
            return
        inner = parent.task.for_each_task
        assert inner is not None
        total = len(parent.iteration_inputs)
        # Starting an iteration can end another one at once (and re-enter here).
        while not parent.is_terminal and parent.stop_reason is None and not run.is_stopping:
            latest = parent.latest_iterations()
            active = sum(1 for item in latest.values() if not item.is_terminal)
            if active >= parent.task.for_each_concurrency or len(latest) >= total:
                break
            iteration = self._new_attempt(
                run, inner, 0, for_each_parent=parent, iteration_index=len(latest)
            )
            self._make_ready(run, iteration)
        if parent.is_terminal:
            return
        latest = parent.latest_iterations()
        if any(not item.is_terminal for item in latest.values()):
            return
        if len(latest) < total and parent.stop_reason is None:
            return
        failed = [
            index
            for index, item in sorted(latest.items())
            if item.termination is None or item.termination.result_state not in SUCCESSFUL_RESULTS
        ]
        if parent.stop_reason is not None:
            termination = parent.stop_reason
        elif failed:
            termination = ends.failed(
                f"{len(failed)} of {total} iterations failed (first: iteration {failed[0]})"
            )
        else:
            termination = ends.succeeded()
        self._end_attempt(run, parent, termination, TaskOutput())

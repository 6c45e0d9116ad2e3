"""In-memory records of jobs, runs and task runs.

These are mutable and shared between request handlers and the scheduler's threads:
every read or write of a record happens while holding ``RunStore.lock`` (see
``_store.py``). Times are epoch milliseconds, as on the wire.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._api_version import ApiVersion
from ._job_settings import JobSpec
from ._legacy_params import LegacyParams
from ._states import LifeCycleState, RunType, Termination, TriggerType
from ._task_settings import TaskSpec


@dataclass
class JobRecord:
    job_id: int
    spec: JobSpec
    created_time: int
    creator_user_name: str
    # The API version of jobs/create: it decides whether the job queues by default.
    created_with: ApiVersion = ApiVersion.V2_2

    @property
    def queue_enabled(self) -> bool:
        """``queue.enabled`` as set, else the default of the version it was created with."""
        if self.spec.queue_enabled is not None:
            return self.spec.queue_enabled
        return self.created_with.queues_by_default


@dataclass
class TaskOutput:
    """What a finished task attempt left behind, served by runs/get-output."""

    notebook_result: str | None = None
    notebook_result_truncated: bool = False
    error: str | None = None
    error_trace: str | None = None
    logs: str = ""
    logs_truncated: bool = False
    task_values: dict[str, Any] = field(default_factory=dict)
    sql_output: dict[str, Any] | None = None


@dataclass
class TaskRunRecord:
    run_id: int
    parent_run_id: int
    task: TaskSpec
    attempt_number: int
    original_attempt_run_id: int
    life_cycle_state: LifeCycleState
    created_time: int
    start_time: int = 0  # when its process started (0 while not yet started)
    end_time: int = 0
    state_message: str = ""
    termination: Termination | None = None
    output: TaskOutput | None = None
    scratch_dir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    # Its process group (= the process's pid: it leads its own session), kept on file so a
    # backend restarted after a SIGKILL can kill the task processes it orphaned.
    process_group_id: int | None = None
    # Set by cancel or a run timeout while the process runs; the attempt ends with it.
    stop_reason: Termination | None = None
    repair_id: int | None = None  # the repair that made this attempt
    condition_outcome: str | None = None  # condition_task: "true" or "false"
    resolved_condition: tuple[str, str] | None = None  # its left and right, resolved
    child_run_id: int | None = None  # run_job_task: the run it started
    # for_each_task: the inputs and every iteration attempt (retries included) ...
    iteration_inputs: list[str] | None = None
    iterations: list[TaskRunRecord] = field(default_factory=list)
    # ... and, on an iteration, the for-each task run it belongs to and its position.
    for_each_parent: TaskRunRecord | None = None
    iteration_index: int | None = None

    @property
    def task_key(self) -> str:
        return self.task.task_key

    @property
    def iteration_input(self) -> str | None:
        parent = self.for_each_parent
        if parent is None or parent.iteration_inputs is None or self.iteration_index is None:
            return None
        return parent.iteration_inputs[self.iteration_index]

    def latest_iterations(self) -> dict[int, TaskRunRecord]:
        """The latest attempt of each iteration started so far, by index."""
        latest: dict[int, TaskRunRecord] = {}
        for iteration in self.iterations:
            assert iteration.iteration_index is not None
            latest[iteration.iteration_index] = iteration
        return latest

    @property
    def is_terminal(self) -> bool:
        return self.termination is not None


@dataclass
class RepairRecord:
    """One entry of a run's ``repair_history``: the original run, then each repair."""

    repair_id: int | None  # None for the ORIGINAL entry
    start_time: int
    task_run_ids: list[int]
    end_time: int = 0
    life_cycle_state: LifeCycleState = LifeCycleState.RUNNING
    termination: Termination | None = None


@dataclass
class RunRecord:
    run_id: int
    run_type: RunType
    trigger: TriggerType
    run_name: str
    tasks_spec: tuple[TaskSpec, ...]
    created_time: int
    timeout_seconds: int
    creator_user_name: str
    job_id: int | None = None
    job: JobRecord | None = None
    life_cycle_state: LifeCycleState = LifeCycleState.PENDING
    start_time: int = 0
    end_time: int = 0
    # When the run entered its queue and left it (started or cancelled there); 0: never.
    queued_time: int = 0
    dequeued_time: int = 0
    state_message: str = ""
    queue_reason: str | None = None
    # run-now ``queue.enabled``: overrides the job's setting for this run (None: the job's).
    queue_enabled: bool | None = None
    termination: Termination | None = None
    idempotency_token: str | None = None
    # Effective values per run: job parameters (name -> value) and legacy overrides.
    job_parameters: dict[str, str] = field(default_factory=dict)
    job_parameter_defaults: dict[str, str] = field(default_factory=dict)
    legacy_params: LegacyParams = field(default_factory=LegacyParams)
    # Latest attempt of each task, in the order of the settings; all attempts by run_id.
    latest_attempts: dict[str, TaskRunRecord] = field(default_factory=dict)
    attempts: list[TaskRunRecord] = field(default_factory=list)
    # Set by runs/cancel or the run's timeout: how the run will end once its tasks stop.
    stop_reason: Termination | None = None
    raw_settings: dict[str, Any] = field(default_factory=dict)
    # What the creating request asked for (token reuse with other parameters is refused).
    request_fingerprint: str = ""
    repair_history: list[RepairRecord] = field(default_factory=list)
    # run_job_task: the task run (of another run) that waits for this run.
    parent_task_run_id: int | None = None

    @property
    def is_terminal(self) -> bool:
        return self.termination is not None

    @property
    def is_stopping(self) -> bool:
        return self.stop_reason is not None

    @property
    def latest_repair_id(self) -> int | None:
        return self.repair_history[-1].repair_id if self.repair_history else None

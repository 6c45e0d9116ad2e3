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

from ._job_settings import JobSpec, TaskSpec
from ._states import LifeCycleState, RunType, Termination, TriggerType


@dataclass
class JobRecord:
    job_id: int
    spec: JobSpec
    created_time: int
    creator_user_name: str


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
    # Set by cancel or a run timeout while the process runs; the attempt ends with it.
    stop_reason: Termination | None = None

    @property
    def task_key(self) -> str:
        return self.task.task_key

    @property
    def is_terminal(self) -> bool:
        return self.termination is not None


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
    state_message: str = ""
    queue_reason: str | None = None
    termination: Termination | None = None
    idempotency_token: str | None = None
    # Effective values per run: job parameters (name -> value) and legacy overrides.
    job_parameters: dict[str, str] = field(default_factory=dict)
    job_parameter_defaults: dict[str, str] = field(default_factory=dict)
    notebook_params: dict[str, str] = field(default_factory=dict)
    python_params: list[str] | None = None
    # Latest attempt of each task, in the order of the settings; all attempts by run_id.
    latest_attempts: dict[str, TaskRunRecord] = field(default_factory=dict)
    attempts: list[TaskRunRecord] = field(default_factory=list)
    # Set by runs/cancel or the run's timeout: how the run will end once its tasks stop.
    stop_reason: Termination | None = None
    raw_settings: dict[str, Any] = field(default_factory=dict)

    @property
    def is_terminal(self) -> bool:
        return self.termination is not None

    @property
    def is_stopping(self) -> bool:
        return self.stop_reason is not None

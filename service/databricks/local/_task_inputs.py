"""What a task attempt is given: widget values, argv, upstream task values, code to run.

Parameter precedence for notebook widgets (as on Databricks): the task's
``base_parameters``, overridden by run-now ``notebook_params``, overridden by the run's
job parameters. A spark_python_task gets its ``parameters`` as argv, replaced as a
whole by run-now ``python_params``. Dynamic value references are resolved in all of
them when the attempt starts.

``snapshot_inputs`` reads the run and must be called with the store lock held;
``build_invocation`` reads files and is called without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._config import LocalBackendConfig
from ._job_settings import TaskKind, TaskSpec
from ._notebook_source import (
    TaskSetupError,
    load_notebook_cells,
    resolve_notebook,
    resolve_python_file,
)
from ._records import RunRecord, TaskRunRecord
from ._references import ReferenceContext, resolve_references
from ._states import SUCCESSFUL_RESULTS, TerminationCode
from ._task_process import TaskInvocation


@dataclass(frozen=True)
class TaskInputs:
    widgets: dict[str, str]
    argv: list[str]
    task_values: dict[str, dict[str, Any]]
    task_keys: list[str]


def snapshot_inputs(run: RunRecord, attempt: TaskRunRecord, workspace_id: int) -> TaskInputs:
    task_values = {
        key: dict(latest.output.task_values)
        for key, latest in run.latest_attempts.items()
        if latest.output is not None
        and latest.termination is not None
        and latest.termination.result_state in SUCCESSFUL_RESULTS
    }
    context = ReferenceContext(
        job_id=run.job_id,
        job_name=run.run_name,
        run_id=run.run_id,
        start_time_ms=run.start_time,
        workspace_id=workspace_id,
        task_key=attempt.task_key,
        task_run_id=attempt.run_id,
        attempt_number=attempt.attempt_number,
        parameters=run.job_parameters,
        task_values=task_values,
    )
    task = attempt.task
    widgets = {
        **task.base_parameters,
        **run.notebook_params,
        **run.job_parameters,
    }
    argv = list(task.python_parameters) if run.python_params is None else list(run.python_params)
    return TaskInputs(
        widgets={name: resolve_references(value, context) for name, value in widgets.items()},
        argv=[resolve_references(value, context) for value in argv],
        task_values=task_values,
        task_keys=[spec.task_key for spec in run.tasks_spec],
    )


def build_invocation(
    task: TaskSpec, inputs: TaskInputs, config: LocalBackendConfig
) -> TaskInvocation:
    """Find and read the code to run; raises TaskSetupError when it cannot run here."""
    if task.source == "GIT":
        raise TaskSetupError(
            f"task {task.task_key} takes its code from git_source, which the local backend "
            "does not support",
            TerminationCode.INVALID_RUN_CONFIGURATION,
        )
    if task.kind is TaskKind.NOTEBOOK:
        path = resolve_notebook(config.workspace_dir, task.notebook_path)
        return TaskInvocation(
            kind="notebook",
            name=task.notebook_path,
            cells=load_notebook_cells(config.workspace_dir, path),
            notebook_dir=str(path.parent),
            widgets=inputs.widgets,
            task_values=inputs.task_values,
            task_keys=inputs.task_keys,
        )
    python_file = resolve_python_file(config.workspace_dir, config.dbfs_root, task.python_file)
    return TaskInvocation(
        kind="python",
        name=task.python_file,
        python_file=str(python_file),
        argv=inputs.argv,
        widgets=inputs.widgets,
        task_values=inputs.task_values,
        task_keys=inputs.task_keys,
    )

"""What a task attempt is given: widget values, argv, upstream task values, code to run.

Parameter precedence for notebook widgets (as on Databricks): the task's
``base_parameters``, overridden by run-now ``notebook_params``, overridden by the run's
job parameters; for SQL parameters the same with ``sql_params``. A spark_python_task,
python_wheel_task or spark_jar_task gets its ``parameters`` as argv, replaced as a whole
by run-now ``python_params`` (``jar_params`` for jars); a wheel's ``named_parameters``
become ``--name=value``, replaced as a whole by run-now ``python_named_params`` (the
legacy fields: ``_legacy_params``). Dynamic value references are resolved in all of them
when the attempt starts.

``snapshot_inputs`` reads the run and must be called with the store lock held;
``build_invocation`` reads files and is called without it.
"""

from __future__ import annotations

import json
import shlex
import shutil
from dataclasses import dataclass, field
from typing import Any

from service.workflows.references import NO_INPUT, ReferenceContext, resolve_references

from ._config import LocalBackendConfig
from ._legacy_params import LegacyParams
from ._notebook_source import (
    TaskSetupError,
    load_notebook_cells,
    resolve_notebook,
    resolve_python_file,
)
from ._records import RunRecord, TaskRunRecord
from ._states import SUCCESSFUL_RESULTS, TerminationCode
from ._task_process import TaskInvocation
from ._task_settings import TaskKind, TaskSpec

_NOT_AVAILABLE = TerminationCode.INVALID_RUN_CONFIGURATION


@dataclass(frozen=True)
class TaskInputs:
    widgets: dict[str, str]
    argv: list[str]
    task_values: dict[str, dict[str, Any]]
    task_keys: list[str]
    sql_parameters: dict[str, str] = field(default_factory=dict)
    # run-now dbt_commands and pipeline_params.full_refresh (None: the task's own)
    dbt_commands: list[str] | None = None
    full_refresh: bool | None = None


def upstream_task_values(run: RunRecord) -> dict[str, dict[str, Any]]:
    return {
        key: dict(latest.output.task_values)
        for key, latest in run.latest_attempts.items()
        if latest.output is not None
        and latest.termination is not None
        and latest.termination.result_state in SUCCESSFUL_RESULTS
    }


def reference_context(
    run: RunRecord, attempt: TaskRunRecord, workspace_id: int
) -> ReferenceContext:
    return ReferenceContext(
        job_id=run.job_id,
        job_name=run.run_name,
        run_id=run.run_id,
        start_time_ms=run.start_time,
        workspace_id=workspace_id,
        task_key=attempt.task_key,
        task_run_id=attempt.run_id,
        attempt_number=attempt.attempt_number,
        repair_count=max(0, len(run.repair_history) - 1),
        parameters=run.job_parameters,
        task_values=upstream_task_values(run),
        task_result_states={
            key: latest.termination.result_state.value
            for key, latest in run.latest_attempts.items()
            if latest.termination is not None
        },
        task_error_codes={
            key: latest.termination.code.value
            for key, latest in run.latest_attempts.items()
            if latest.termination is not None
        },
        task_run_ids={key: latest.run_id for key, latest in run.latest_attempts.items()},
        trigger_type=run.trigger.value,
        for_each_input=(
            NO_INPUT if attempt.iteration_input is None else json.loads(attempt.iteration_input)
        ),
    )


def snapshot_inputs(run: RunRecord, attempt: TaskRunRecord, workspace_id: int) -> TaskInputs:
    context = reference_context(run, attempt, workspace_id)
    task = attempt.task
    legacy = run.legacy_params
    widgets = {**task.base_parameters, **(legacy.notebook_params or {}), **run.job_parameters}
    sql_parameters = {**task.sql_parameters, **(legacy.sql_params or {}), **run.job_parameters}
    return TaskInputs(
        widgets={name: resolve_references(value, context) for name, value in widgets.items()},
        argv=[resolve_references(value, context) for value in _argv(task, legacy)],
        task_values={key: dict(values) for key, values in context.task_values.items()},
        task_keys=[spec.task_key for spec in run.tasks_spec],
        sql_parameters={
            name: resolve_references(value, context) for name, value in sql_parameters.items()
        },
        dbt_commands=legacy.dbt_commands,
        full_refresh=legacy.pipeline_full_refresh,
    )


def _argv(task: TaskSpec, legacy: LegacyParams) -> list[str]:
    """A task's arguments; run-now's legacy fields replace the task's as a whole."""
    if task.kind is TaskKind.SPARK_JAR:
        return list(task.parameters if legacy.jar_params is None else legacy.jar_params)
    if task.kind is TaskKind.PYTHON_WHEEL:
        if legacy.python_named_params is not None:
            return [f"--{name}={value}" for name, value in legacy.python_named_params.items()]
        if legacy.python_params is None and task.named_parameters:
            return [f"--{name}={value}" for name, value in task.named_parameters.items()]
    return list(task.parameters if legacy.python_params is None else legacy.python_params)


def build_invocation(
    task: TaskSpec, inputs: TaskInputs, config: LocalBackendConfig
) -> TaskInvocation:
    """Find and read the code to run; raises TaskSetupError when it cannot run here."""
    if task.source == "GIT":
        raise TaskSetupError(
            f"task {task.task_key} takes its code from git_source, which the local backend "
            "does not support",
            _NOT_AVAILABLE,
        )
    common: dict[str, Any] = {
        "widgets": inputs.widgets,
        "task_values": inputs.task_values,
        "task_keys": inputs.task_keys,
        "workspace_dir": str(config.workspace_dir.resolve()),
    }
    if task.kind is TaskKind.NOTEBOOK:
        path = resolve_notebook(config.workspace_dir, task.notebook_path)
        return TaskInvocation(
            kind="notebook",
            name=task.notebook_path,
            cells=load_notebook_cells(config.workspace_dir, path),
            notebook_dir=str(path.parent),
            **common,
        )
    if task.kind is TaskKind.SPARK_PYTHON:
        python_file = resolve_python_file(config.workspace_dir, config.dbfs_root, task.python_file)
        return TaskInvocation(
            kind="python",
            name=task.python_file,
            python_file=str(python_file),
            argv=inputs.argv,
            **common,
        )
    if task.kind is TaskKind.PYTHON_WHEEL:
        return TaskInvocation(
            kind="wheel",
            name=f"{task.package_name}:{task.entry_point}",
            package_name=task.package_name,
            entry_point=task.entry_point,
            argv=inputs.argv,
            library_paths=[str(p) for p in _library_files(task, "whl", config)],
            **common,
        )
    if task.kind is TaskKind.SQL:
        return _sql_invocation(task, inputs, config, common)
    if task.kind is TaskKind.SPARK_JAR:
        java = shutil.which("java")
        if java is None:
            raise TaskSetupError(
                "spark_jar_task needs `java` on the PATH of the local backend", _NOT_AVAILABLE
            )
        classpath = ":".join(str(p) for p in _library_files(task, "jar", config))
        argv = [java, *(["-cp", classpath] if classpath else []), task.main_class_name]
        return TaskInvocation(
            kind="command", name=task.main_class_name, commands=[argv + inputs.argv], **common
        )
    if task.kind is TaskKind.PIPELINE:
        return _configured_command(
            task, config.pipeline_command, "pipeline", inputs, common, config
        )
    if task.kind is TaskKind.DBT:
        return _configured_command(task, config.dbt_command, "dbt", inputs, common, config)
    raise TaskSetupError(f"{task.type_field} cannot run as a process", _NOT_AVAILABLE)


def _sql_invocation(
    task: TaskSpec, inputs: TaskInputs, config: LocalBackendConfig, common: dict[str, Any]
) -> TaskInvocation:
    if task.sql_file:
        path = resolve_python_file(config.workspace_dir, config.dbfs_root, task.sql_file)
        text = path.read_text(encoding="utf-8")
    elif task.sql_query_text:
        text = task.sql_query_text
    else:
        raise TaskSetupError(
            "sql_task: saved queries (query.query_id), alerts and dashboards are not available "
            "in the local backend; use file.path or query.query_text",
            _NOT_AVAILABLE,
        )
    return TaskInvocation(
        kind="sql",
        name=task.sql_file or "query",
        sql_text=text,
        sql_parameters=inputs.sql_parameters,
        sql_database=str(config.warehouse_path.resolve()),
        warehouse_id=str(task.body.get("warehouse_id", "")),
        **common,
    )


def _configured_command(
    task: TaskSpec,
    command: str | None,
    label: str,
    inputs: TaskInputs,
    common: dict[str, Any],
    config: LocalBackendConfig,
) -> TaskInvocation:
    if not command:
        setting = f"LOCKGATE_LOCAL_{label.upper()}_COMMAND"
        raise TaskSetupError(
            f"{task.type_field} is not available in the local backend: it has no {label} "
            f"runtime. Configure a local command for it ({setting}).",
            _NOT_AVAILABLE,
        )
    prefix = shlex.split(command)
    body = task.body
    if task.kind is TaskKind.PIPELINE:
        argv = [*prefix, str(body.get("pipeline_id", ""))]
        full_refresh = (
            body.get("full_refresh") if inputs.full_refresh is None else inputs.full_refresh
        )
        commands = [argv + (["--full-refresh"] if full_refresh else [])]
    else:
        # dbt commands are written "dbt run ..."; the configured command replaces "dbt".
        lines = body.get("commands", []) if inputs.dbt_commands is None else inputs.dbt_commands
        commands = [[*prefix, *shlex.split(str(line))[1:]] for line in lines]
    cwd = ""
    if body.get("project_directory"):
        cwd = str(config.workspace_dir.resolve() / str(body["project_directory"]).lstrip("/"))
    return TaskInvocation(kind="command", name=label, commands=commands, command_cwd=cwd, **common)


def _library_files(task: TaskSpec, kind: str, config: LocalBackendConfig) -> list[Any]:
    """Local files of the task's ``libraries`` of one kind (``whl``, ``jar``)."""
    paths = []
    for library in task.libraries:
        location = library.get(kind)
        if isinstance(location, str):
            paths.append(resolve_python_file(config.workspace_dir, config.dbfs_root, location))
    return paths

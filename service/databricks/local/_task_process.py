"""One task attempt as one local process: start it, stop it, and read what it left.

Each attempt runs ``sys.executable _runner.py spec.json`` in its own scratch directory
(``runs_dir/<run_id>/<task run id>``) and its own session, so cancel and timeouts can
kill the whole process group (a notebook's own subprocesses included). stdout and
stderr go, interleaved, to ``driver.log`` there.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._config import LocalBackendConfig
from ._notebook_source import CodeCell
from ._records import TaskOutput

RUNNER = Path(__file__).with_name("_runner.py")
LOG_FILE = "driver.log"
SPEC_FILE = "task.json"
RESULT_FILE = "result.json"
MAX_LOG_BYTES = 5 * 1024 * 1024  # runs/get-output returns the last 5 MB of logs
DBFS_ROOT_ENV = "LOCKGATE_DBFS_ROOT"
# Marks every process of an attempt (children inherit it): after a backend SIGKILL, the
# restarted backend kills only processes that carry the marker of a task run it had
# started, never an unrelated process that reused a recorded pid or group id.
TASK_RUN_ENV = "LOCKGATE_LOCAL_TASK_RUN_ID"


@dataclass(frozen=True)
class TaskInvocation:
    """Everything the runner needs; written to the scratch dir as its spec."""

    kind: str  # "notebook", "python", "wheel", "sql" or "command"
    name: str  # notebook path, python file ..., for messages
    cells: list[CodeCell] = field(default_factory=list)
    notebook_dir: str = ""
    python_file: str = ""
    argv: list[str] = field(default_factory=list)
    widgets: dict[str, str] = field(default_factory=dict)
    task_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    task_keys: list[str] = field(default_factory=list)
    workspace_dir: str = ""  # for dbutils.notebook.run
    package_name: str = ""  # python_wheel_task
    entry_point: str = ""
    library_paths: list[str] = field(default_factory=list)
    sql_text: str = ""  # sql_task
    sql_parameters: dict[str, str] = field(default_factory=dict)
    sql_database: str = ""
    warehouse_id: str = ""
    commands: list[list[str]] = field(default_factory=list)  # spark_jar, pipeline, dbt
    command_cwd: str = ""


@dataclass(frozen=True)
class AttemptOutcome:
    succeeded: bool
    output: TaskOutput
    message: str  # one line for state_message; "" on success


def start_task_process(
    invocation: TaskInvocation, *, task_run_id: int, scratch_dir: Path, config: LocalBackendConfig
) -> subprocess.Popen[bytes]:
    scratch_dir.mkdir(parents=True, exist_ok=True)
    spec = asdict(invocation)
    spec["cells"] = [
        {"source": cell.source, "filename": cell.filename, "first_line": cell.first_line}
        for cell in invocation.cells
    ]
    spec["result_path"] = str(scratch_dir / RESULT_FILE)
    (scratch_dir / SPEC_FILE).write_text(json.dumps(spec), encoding="utf-8")
    dbfs_root = config.dbfs_root
    with (scratch_dir / LOG_FILE).open("wb") as log:
        return subprocess.Popen(
            [sys.executable, str(RUNNER), str(scratch_dir / SPEC_FILE)],
            cwd=scratch_dir,
            env=_task_environment(dbfs_root, task_run_id),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole
        )


def kill_process_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the attempt's process and everything it started; safe to call twice."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def collect_outcome(scratch_dir: Path, returncode: int) -> AttemptOutcome:
    logs, logs_truncated = _tail(scratch_dir / LOG_FILE)
    try:
        result = json.loads((scratch_dir / RESULT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = None
    if not isinstance(result, dict):
        # The process died before writing its result (killed, crashed, os._exit ...).
        how = f"signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        message = f"The task process ended with {how} without reporting a result"
        output = TaskOutput(error=message, logs=logs, logs_truncated=logs_truncated)
        return AttemptOutcome(False, output, message)
    output = TaskOutput(
        notebook_result=result.get("notebook_result"),
        notebook_result_truncated=bool(result.get("notebook_result_truncated", False)),
        error=result.get("error"),
        error_trace=result.get("error_trace"),
        logs=logs,
        logs_truncated=logs_truncated,
        task_values=dict(result.get("task_values") or {}),
        sql_output=result.get("sql_output"),
    )
    if result.get("status") == "SUCCESS":
        return AttemptOutcome(True, output, "")
    return AttemptOutcome(False, output, output.error or "The task failed")


def _tail(path: Path) -> tuple[str, bool]:
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - MAX_LOG_BYTES))
            data = handle.read()
    except OSError:
        return "", False
    return data.decode("utf-8", errors="replace"), size > MAX_LOG_BYTES


def _task_environment(dbfs_root: Path, task_run_id: int) -> dict[str, str]:
    # Lockgate's own settings (tokens, secrets) are not the task's business.
    env = {key: value for key, value in os.environ.items() if not key.startswith("LOCKGATE_")}
    env[DBFS_ROOT_ENV] = str(dbfs_root.resolve())
    env["PYTHONUNBUFFERED"] = "1"  # so driver.log is live while the task runs
    env[TASK_RUN_ENV] = str(task_run_id)
    return env

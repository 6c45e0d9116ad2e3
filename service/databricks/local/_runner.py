"""Runs one task attempt of the local Databricks backend, in its own process.

Started as ``python _runner.py <spec.json>`` with the task's scratch dir as cwd. It is
run by file path, not as a package module, and imports only the standard library, so a
task process starts fast and never imports the backend (FastAPI, the store ...).

The spec (written by ``_task_process.py``) says what to run: notebook cells, executed
in order in one namespace, or a Python file run as ``__main__`` with ``argv``. The
namespace gets a ``dbutils`` with ``widgets``, ``notebook.exit`` and
``jobs.taskValues``. The outcome goes to ``result_path`` as JSON; the exit code is 0 on
success and 1 on failure (a process that dies without writing it has failed too).
"""

from __future__ import annotations

import builtins
import json
import linecache
import os
import runpy
import sys
import traceback
from typing import Any

MAX_RESULT_BYTES = 5 * 1024 * 1024  # notebook_output.result holds the first 5 MB


class NotebookExit(BaseException):
    """Raised by dbutils.notebook.exit; a BaseException so `except Exception` won't catch it."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class InputWidgetNotDefined(Exception):
    pass


class Widgets:
    """Values passed to the run win over the defaults a notebook declares with text()."""

    def __init__(self, values: dict[str, str]) -> None:
        self._values = dict(values)
        self._defaults: dict[str, str] = {}

    def get(self, name: str) -> str:
        if name in self._values:
            return self._values[name]
        if name in self._defaults:
            return self._defaults[name]
        raise InputWidgetNotDefined(f"No input widget named {name} is defined")

    def getArgument(self, name: str, defaultValue: str | None = None) -> str | None:
        try:
            return self.get(name)
        except InputWidgetNotDefined:
            return defaultValue

    def getAll(self) -> dict[str, str]:
        return {**self._defaults, **self._values}

    def text(self, name: str, defaultValue: str = "", label: str | None = None) -> None:
        self._defaults[name] = str(defaultValue)

    def dropdown(
        self, name: str, defaultValue: str, choices: list[str], label: str | None = None
    ) -> None:
        self._defaults[name] = str(defaultValue)

    combobox = dropdown
    multiselect = dropdown

    def remove(self, name: str) -> None:
        self._defaults.pop(name, None)

    def removeAll(self) -> None:
        self._defaults.clear()


class UnsupportedInLocalBackend(RuntimeError):
    """A dbutils call the local backend does not offer; fails the task with this message."""


class NotebookUtils:
    def exit(self, value: object) -> None:
        raise NotebookExit("" if value is None else str(value))

    def run(self, path: str, timeout_seconds: int = 0, arguments: object = None) -> str:
        raise UnsupportedInLocalBackend(
            "dbutils.notebook.run is not supported by the local backend"
        )


class TaskValues:
    """Values set here are stored with the task run; upstream tasks' values come in the spec."""

    def __init__(self, upstream: dict[str, dict[str, Any]], task_keys: list[str]) -> None:
        self._upstream = upstream
        self._task_keys = set(task_keys)
        self.values: dict[str, Any] = {}

    def set(self, key: str, value: Any) -> None:
        json.dumps(value)  # must be JSON-serialisable, as on Databricks
        self.values[key] = value

    def get(self, taskKey: str, key: str, default: Any = None, debugValue: Any = None) -> Any:
        if taskKey not in self._task_keys:
            raise ValueError(f"Task {taskKey} is not a task of this job run")
        values = self._upstream.get(taskKey, {})
        if key in values:
            return values[key]
        if default is not None:
            return default
        raise ValueError(f"Task value {key!r} of task {taskKey} was not set")


class JobsUtils:
    def __init__(self, task_values: TaskValues) -> None:
        self.taskValues = task_values


class DBUtils:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.widgets = Widgets(spec.get("widgets", {}))
        self.notebook = NotebookUtils()
        self.jobs = JobsUtils(TaskValues(spec.get("task_values", {}), spec.get("task_keys", [])))


def _display(*values: object) -> None:
    print(*values)


def _run_notebook(spec: dict[str, Any], dbutils: DBUtils) -> None:
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": builtins,
        "dbutils": dbutils,
        "display": _display,
        "displayHTML": _display,
    }
    # As on recent Databricks runtimes, a notebook can import modules next to it.
    sys.path.insert(0, spec["notebook_dir"])
    for cell in spec["cells"]:
        filename = cell["filename"]
        # Pad so line numbers in tracebacks are the lines of the notebook file.
        source = "\n" * (cell["first_line"] - 1) + cell["source"] + "\n"
        if not os.path.isfile(filename):
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)


def _run_python_file(spec: dict[str, Any], dbutils: DBUtils) -> None:
    path = spec["python_file"]
    sys.argv = [path, *spec.get("argv", [])]
    sys.path.insert(0, os.path.dirname(path))
    runpy.run_path(path, init_globals={"dbutils": dbutils}, run_name="__main__")


def _summary(exc: BaseException) -> str:
    text = str(exc).strip()
    first_line = text.splitlines()[0] if text else ""
    summary = f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__
    return summary[:1000]


def _trace(exc: BaseException) -> str:
    """The traceback without this runner's own frames."""
    info = traceback.TracebackException.from_exception(exc)
    info.stack = traceback.StackSummary.from_list(
        [frame for frame in info.stack if frame.filename != __file__]
    )
    return "".join(info.format())


def _truncate(value: str) -> tuple[str, bool]:
    encoded = value.encode("utf-8")
    if len(encoded) <= MAX_RESULT_BYTES:
        return value, False
    return encoded[:MAX_RESULT_BYTES].decode("utf-8", errors="ignore"), True


def main(spec_path: str) -> int:
    # Started by file path, Python put this package's directory first on sys.path;
    # task code must not import the backend's private modules by accident.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != here]
    with open(spec_path, encoding="utf-8") as handle:
        spec = json.load(handle)
    dbutils = DBUtils(spec)
    result: dict[str, Any] = {"status": "SUCCESS", "notebook_result": None}
    try:
        if spec["kind"] == "notebook":
            _run_notebook(spec, dbutils)
        else:
            _run_python_file(spec, dbutils)
    except NotebookExit as exit_:
        result["notebook_result"], result["notebook_result_truncated"] = _truncate(exit_.value)
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            result = {"status": "FAILED", "error": f"SystemExit: {exit_.code}", "error_trace": ""}
    except BaseException as exc:
        trace = _trace(exc)
        print(trace, file=sys.stderr, end="")
        result = {"status": "FAILED", "error": _summary(exc), "error_trace": trace}
    result["task_values"] = dbutils.jobs.taskValues.values
    sys.stdout.flush()
    sys.stderr.flush()
    temporary = spec["result_path"] + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    os.replace(temporary, spec["result_path"])
    return 0 if result["status"] == "SUCCESS" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

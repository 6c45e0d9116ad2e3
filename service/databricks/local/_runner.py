"""Runs one task attempt of the local Databricks backend, in its own process.

Started as ``python _runner.py <spec.json>`` with the task's scratch dir as cwd. It is
run by file path, not as a package module, and imports only the standard library, so a
task process starts fast and never imports the backend (FastAPI, the store ...).

The spec (written by ``_task_process.py``) says what to run: notebook cells, executed
in order in one namespace; a Python file run as ``__main__`` with ``argv``; a wheel's
entry point; SQL on DuckDB; or commands (java, a configured pipeline/dbt stand-in).
Python code gets ``dbutils`` and ``spark`` (``_task_dbutils.py``). The outcome goes to
``result_path`` as JSON; the exit code is 0 on success and 1 on failure (a process that
dies without writing it has failed too).
"""

from __future__ import annotations

import builtins
import importlib
import json
import linecache
import os
import re
import runpy
import subprocess
import sys
import time
import traceback
from importlib import metadata
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _task_dbutils import DBUtils, LocalSpark, NotebookExit

sys.path.pop(0)

MAX_RESULT_BYTES = 5 * 1024 * 1024  # notebook_output.result holds the first 5 MB


def _display(*values: object) -> None:
    print(*values)


def _run_notebook(spec: dict[str, Any], dbutils: DBUtils) -> None:
    namespace: dict[str, Any] = {
        "__name__": "__main__",
        "__builtins__": builtins,
        "dbutils": dbutils,
        "spark": LocalSpark(),
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
    runpy.run_path(
        path, init_globals={"dbutils": dbutils, "spark": LocalSpark()}, run_name="__main__"
    )


def _run_wheel(spec: dict[str, Any]) -> None:
    """python_wheel_task: the package's entry point of that name, else package.entry_point()."""
    sys.path[:0] = spec.get("library_paths", [])
    package, name = spec["package_name"], spec["entry_point"]
    sys.argv = [package, *spec.get("argv", [])]
    function = None
    try:
        distribution = metadata.distribution(package)
        found = [ep for ep in distribution.entry_points if ep.name == name]
        function = found[0].load() if found else None
    except metadata.PackageNotFoundError:
        pass
    if function is None:
        module = importlib.import_module(package.replace("-", "_"))
        function = getattr(module, name, None)
        if function is None:
            raise RuntimeError(f"No entry point {name!r} in package {package!r}")
    returned = function()
    if isinstance(returned, int) and not isinstance(returned, bool) and returned != 0:
        raise SystemExit(returned)


_SQL_ROWS = 1000  # rows of the last statement kept in sql_output


def _run_sql(spec: dict[str, Any]) -> dict[str, Any]:
    """sql_task on DuckDB: parameters as ``:name`` (bound) or ``{{name}}`` (text)."""
    import duckdb

    params = spec.get("sql_parameters", {})
    text = re.sub(
        r"\{\{\s*(\w+)\s*\}\}", lambda m: params.get(m.group(1), m.group(0)), spec["sql_text"]
    )
    used: dict[str, str] = {}

    def bind(match: re.Match[str]) -> str:
        used[match.group(1)] = params[match.group(1)]
        return "$" + match.group(1)

    names = "|".join(re.escape(name) for name in params)
    if names:
        text = re.sub(rf"(?<![:\w]):({names})\b", bind, text)
    deadline = time.monotonic() + 30
    while True:  # one writer process at a time: wait for another task's connection
        try:
            connection = duckdb.connect(spec["sql_database"])
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    try:
        cursor = connection.execute(text, used or None)
        columns = [column[0] for column in cursor.description or []]
        rows = cursor.fetchmany(_SQL_ROWS + 1) if columns else []
    finally:
        connection.close()
    print(f"SQL ok: {len(rows[:_SQL_ROWS])} row(s) from the last statement")
    return {
        "query_output": {
            "query_text": spec["sql_text"],
            "warehouse_id": spec.get("warehouse_id", ""),
            "output_link": "",
            "sql_statements": [{"lookup_key": "local-statement-0"}],
            # A local extension: a workspace links to the result instead of carrying it.
            "result": {
                "columns": columns,
                "rows": [[_jsonable(value) for value in row] for row in rows[:_SQL_ROWS]],
                "truncated": len(rows) > _SQL_ROWS,
            },
        }
    }


def _jsonable(value: Any) -> Any:
    # DECIMAL, dates ... as text, as the Databricks statement API renders every value.
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _run_commands(spec: dict[str, Any]) -> None:
    for argv in spec["commands"]:
        print("$", " ".join(argv), flush=True)
        try:
            completed = subprocess.run(argv, cwd=spec.get("command_cwd") or None, check=False)
        except FileNotFoundError:
            raise RuntimeError(f"command not found: {argv[0]}") from None
        if completed.returncode != 0:
            raise RuntimeError(
                f"{os.path.basename(argv[0])} exited with code {completed.returncode}"
            )


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
        kind = spec["kind"]
        if kind == "notebook":
            _run_notebook(spec, dbutils)
        elif kind == "python":
            _run_python_file(spec, dbutils)
        elif kind == "wheel":
            _run_wheel(spec)
        elif kind == "sql":
            result["sql_output"] = _run_sql(spec)
        else:
            _run_commands(spec)
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

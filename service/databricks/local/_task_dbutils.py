"""``dbutils`` and ``spark`` as a task process sees them (loaded by ``_runner.py`` by path).

Standard library only, like the runner. What is offered: ``widgets``, ``notebook.exit``,
``notebook.run`` (the called notebook runs in a process of its own, as on Databricks,
and its exit value is returned), ``jobs.taskValues``, and ``fs`` on the local DBFS root
(``dbfs:/`` and ``/Volumes``; ``file:/`` is the local disk). ``spark`` is a local
SparkSession when pyspark is installed, created on first use; otherwise any use of it
fails the task with a message that says why.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

HERE = Path(__file__).resolve().parent
DBFS_ROOT_ENV = "LOCKGATE_DBFS_ROOT"


class NotebookExit(BaseException):
    """Raised by dbutils.notebook.exit; a BaseException so `except Exception` won't catch it."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


class InputWidgetNotDefined(Exception):
    pass


class UnsupportedInLocalBackend(RuntimeError):
    """A dbutils call the local backend does not offer; fails the task with this message."""


class NotebookRunFailed(RuntimeError):
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


def load_sibling(name: str) -> Any:
    """Import a stdlib-only module of this package by file path (not as the package)."""
    spec = importlib.util.spec_from_file_location(f"_lockgate_local_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


class NotebookUtils:
    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec

    def exit(self, value: object) -> None:
        raise NotebookExit("" if value is None else str(value))

    def run(self, path: str, timeout_seconds: int = 0, arguments: object = None) -> str:
        """Run another notebook in its own process; returns what it passed to exit()."""
        source = load_sibling("_notebook_source")
        workspace = Path(self._spec["workspace_dir"])
        if not path.startswith("/"):
            here = Path(self._spec.get("notebook_dir") or workspace).resolve()
            relative = here.relative_to(workspace.resolve()).as_posix()
            path = source._normalise(f"/{relative}/{path}")
        try:
            notebook = source.resolve_notebook(workspace, path)
            cells = source.load_notebook_cells(workspace, notebook)
        except source.TaskSetupError as exc:
            raise NotebookRunFailed(exc.message) from None
        scratch = Path(tempfile.mkdtemp(prefix="notebook-run-", dir=os.getcwd()))
        values = {str(k): str(v) for k, v in dict(arguments or {}).items()}  # type: ignore[call-overload]
        spec = {
            "kind": "notebook",
            "name": path,
            "cells": [vars(cell) for cell in cells],
            "notebook_dir": str(notebook.parent),
            "workspace_dir": str(workspace),
            "widgets": values,
            "result_path": str(scratch / "result.json"),
        }
        (scratch / "task.json").write_text(json.dumps(spec), encoding="utf-8")
        try:
            subprocess.run(
                [sys.executable, str(HERE / "_runner.py"), str(scratch / "task.json")],
                cwd=scratch,
                timeout=timeout_seconds or None,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise NotebookRunFailed(
                f"Notebook {path} timed out after {timeout_seconds} seconds"
            ) from None
        try:
            result = json.loads((scratch / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise NotebookRunFailed(f"Notebook {path} ended without a result") from None
        if result.get("status") != "SUCCESS":
            raise NotebookRunFailed(f"Notebook {path} failed: {result.get('error')}")
        return str(result.get("notebook_result") or "")


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


class FileInfo(NamedTuple):
    path: str
    name: str
    size: int
    modificationTime: int


class FsUtils:
    """dbutils.fs over the local DBFS root."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _local(self, path: str) -> Path:
        if path.startswith("file:"):
            return Path(path.removeprefix("file:"))
        relative = path.removeprefix("dbfs:").removeprefix("/dbfs/").lstrip("/")
        candidate = (self._root / relative).resolve()
        if candidate != self._root.resolve() and self._root.resolve() not in candidate.parents:
            raise ValueError(f"path {path!r} leaves the local DBFS root")
        return candidate

    def ls(self, path: str) -> list[FileInfo]:
        local = self._local(path)
        if not local.exists():
            raise FileNotFoundError(f"java.io.FileNotFoundException: File {path} does not exist.")
        entries = sorted(local.iterdir()) if local.is_dir() else [local]
        base = path.rstrip("/")
        infos = []
        for entry in entries:
            is_dir = entry.is_dir()
            name = entry.name + ("/" if is_dir else "")
            full = f"{base}/{name}" if local.is_dir() else path
            size = 0 if is_dir else entry.stat().st_size
            infos.append(FileInfo(full, name, size, int(entry.stat().st_mtime * 1000)))
        return infos

    def mkdirs(self, path: str) -> bool:
        self._local(path).mkdir(parents=True, exist_ok=True)
        return True

    def put(self, path: str, contents: str, overwrite: bool = False) -> bool:
        local = self._local(path)
        if local.exists() and not overwrite:
            raise FileExistsError(f"File {path} already exists; pass overwrite=True")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(contents, encoding="utf-8")
        return True

    def head(self, path: str, maxBytes: int = 65536) -> str:
        with self._local(path).open("rb") as handle:
            return handle.read(maxBytes).decode("utf-8", errors="replace")

    def cp(self, source: str, destination: str, recurse: bool = False) -> bool:
        src, dst = self._local(source), self._local(destination)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            if not recurse:
                raise IsADirectoryError(f"{source} is a directory; pass recurse=True")
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
        return True

    def mv(self, source: str, destination: str, recurse: bool = False) -> bool:
        src, dst = self._local(source), self._local(destination)
        if src.is_dir() and not recurse:
            raise IsADirectoryError(f"{source} is a directory; pass recurse=True")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(src, dst)
        return True

    def rm(self, path: str, recurse: bool = False) -> bool:
        local = self._local(path)
        if not local.exists():
            return False
        if local.is_dir():
            if not recurse:
                raise IsADirectoryError(f"{path} is a directory; pass recurse=True")
            shutil.rmtree(local)
        else:
            local.unlink()
        return True


class DBUtils:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.widgets = Widgets(spec.get("widgets", {}))
        self.notebook = NotebookUtils(spec)
        self.jobs = JobsUtils(TaskValues(spec.get("task_values", {}), spec.get("task_keys", [])))
        self.fs = FsUtils(Path(os.environ.get(DBFS_ROOT_ENV, "/dbfs")))

    def __getattr__(self, name: str) -> Any:
        raise UnsupportedInLocalBackend(f"dbutils.{name} is not available in the local backend")


class LocalSpark:
    """``spark``: a local SparkSession made on first use, if pyspark is installed."""

    def __init__(self) -> None:
        self._session: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._session is None:
            if importlib.util.find_spec("pyspark") is None:
                raise UnsupportedInLocalBackend(
                    "spark is not available in the local backend: pyspark is not installed "
                    "in its Python environment"
                )
            from pyspark.sql import SparkSession

            self._session = SparkSession.builder.master("local[*]").getOrCreate()
        return getattr(self._session, name)

"""Workspace paths to local files, and notebooks to the Python cells they run.

A Databricks *source notebook* is a ``.py`` file whose first line is
``# Databricks notebook source``; cells are separated by ``# COMMAND ----------`` and
magic cells have every line prefixed ``# MAGIC``. ``%md`` cells are documentation and
are skipped, ``%python`` cells run, ``%run <notebook>`` inlines that notebook's cells
(as Databricks does, in the same namespace); other languages (``%sql``, ``%sh``,
``%pip`` ...) cannot run here and fail the task with a message that says so. ``.ipynb``
notebooks contribute their code cells under the same rules.

This module imports only the standard library: the task runner loads it by file path for
``dbutils.notebook.run`` (termination codes are therefore plain strings here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


class TerminationCode:
    """The ``_states.TerminationCode`` values this module raises, as plain strings."""

    RESOURCE_NOT_FOUND = "RESOURCE_NOT_FOUND"
    INVALID_RUN_CONFIGURATION = "INVALID_RUN_CONFIGURATION"


NOTEBOOK_HEADER = "# Databricks notebook source"
CELL_SEPARATOR = "# COMMAND ----------"
MAGIC_PREFIX = "# MAGIC"
_SKIPPED_MAGICS = frozenset({"%md", "%md-sandbox"})
_MAX_RUN_DEPTH = 10


class TaskSetupError(Exception):
    """The task cannot start: a missing file or something the local backend cannot run."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class CodeCell:
    source: str
    filename: str  # shown in tracebacks; the real file for .py notebooks
    first_line: int  # 1-based line of the cell's first line in that file


def resolve_notebook(workspace_dir: Path, notebook_path: str) -> Path:
    """``/Shared/ETL/x`` -> ``workspace_dir/Shared/ETL/x.py`` (or ``.ipynb``)."""
    if not notebook_path.startswith("/"):
        raise TaskSetupError(
            f"notebook_path {notebook_path!r} is relative: it needs git_source, which the "
            "local backend does not support; use an absolute workspace path",
            TerminationCode.INVALID_RUN_CONFIGURATION,
        )
    base = _inside(workspace_dir, _strip_workspace_prefix(notebook_path))
    candidates = [base] if base.suffix in (".py", ".ipynb") else []
    candidates += [base.with_name(base.name + ".py"), base.with_name(base.name + ".ipynb")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise TaskSetupError(
        f"Notebook not found: {notebook_path} (looked for {base}.py and {base}.ipynb)",
        TerminationCode.RESOURCE_NOT_FOUND,
    )


def resolve_python_file(workspace_dir: Path, dbfs_root: Path, python_file: str) -> Path:
    """``dbfs:/x``, ``/dbfs/x``, ``/Volumes/x`` -> dbfs_root; ``/Workspace/x``, ``/x`` ->
    the workspace."""
    if python_file.startswith("dbfs:/"):
        path = _inside(dbfs_root, python_file.removeprefix("dbfs:"))
    elif python_file.startswith("/dbfs/"):
        path = _inside(dbfs_root, python_file.removeprefix("/dbfs"))
    elif python_file.startswith("/Volumes/"):
        path = _inside(dbfs_root, python_file)
    elif python_file.startswith("/"):
        path = _inside(workspace_dir, _strip_workspace_prefix(python_file))
    else:
        raise TaskSetupError(
            f"python_file {python_file!r} must be a dbfs:/ or absolute workspace path "
            "(relative paths need git_source, which the local backend does not support)",
            TerminationCode.INVALID_RUN_CONFIGURATION,
        )
    if not path.is_file():
        raise TaskSetupError(
            f"File not found: {python_file} (looked for {path})",
            TerminationCode.RESOURCE_NOT_FOUND,
        )
    return path


def load_notebook_cells(workspace_dir: Path, path: Path, _depth: int = 0) -> list[CodeCell]:
    if _depth > _MAX_RUN_DEPTH:
        raise TaskSetupError(
            f"%run nests deeper than {_MAX_RUN_DEPTH} notebooks (a cycle?) at {path}",
            TerminationCode.INVALID_RUN_CONFIGURATION,
        )
    raw_cells = _ipynb_cells(path) if path.suffix == ".ipynb" else _source_notebook_cells(path)
    cells: list[CodeCell] = []
    for index, (filename, first_line, lines) in enumerate(raw_cells, start=1):
        cells.extend(_code_of_cell(workspace_dir, path, index, filename, first_line, lines, _depth))
    return cells


def _code_of_cell(
    workspace_dir: Path,
    notebook: Path,
    index: int,
    filename: str,
    first_line: int,
    lines: list[str],
    depth: int,
) -> list[CodeCell]:
    # Drop leading blank lines but keep line numbers right.
    while lines and not lines[0].strip():
        lines = lines[1:]
        first_line += 1
    if not lines:
        return []
    head = lines[0].strip()
    if not head.startswith("%"):
        return [CodeCell("\n".join(lines), filename, first_line)]
    magic, _, argument = head.partition(" ")
    if magic in _SKIPPED_MAGICS:
        return []
    if magic == "%python":
        rest = [argument, *lines[1:]] if argument.strip() else lines[1:]
        start = first_line if argument.strip() else first_line + 1
        # Code after the magic word on its line (`%python x = 1`) starts the cell there.
        return [CodeCell("\n".join(rest), filename, start)] if "".join(rest).strip() else []
    if magic == "%run":
        target = argument.split()[0] if argument.split() else ""
        if not target:
            raise TaskSetupError(
                f"cell {index} of {notebook.name}: %run needs a notebook path",
                TerminationCode.INVALID_RUN_CONFIGURATION,
            )
        return load_notebook_cells(
            workspace_dir, _resolve_run_target(workspace_dir, notebook, target), depth + 1
        )
    raise TaskSetupError(
        f"cell {index} of {notebook.name} uses {magic}, which the local backend cannot run "
        "(it runs Python cells only)",
        TerminationCode.INVALID_RUN_CONFIGURATION,
    )


def _source_notebook_cells(path: Path) -> list[tuple[str, int, list[str]]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    # A .py file without the header is a plain script: one Python cell.
    start = 1 if lines and lines[0].strip() == NOTEBOOK_HEADER else 0
    cells: list[tuple[str, int, list[str]]] = []
    current: list[str] = []
    current_first = start + 1
    for number, line in enumerate(lines[start:], start=start + 1):
        if line.strip() == CELL_SEPARATOR:
            cells.append((str(path), current_first, current))
            current, current_first = [], number + 1
        else:
            current.append(line)
    cells.append((str(path), current_first, current))
    return [(name, first, _unmagic(body)) for name, first, body in cells]


def _unmagic(lines: list[str]) -> list[str]:
    """Strip ``# MAGIC`` prefixes when the whole cell is a magic cell."""
    content = [line for line in lines if line.strip()]
    if not content or not all(line.startswith(MAGIC_PREFIX) for line in content):
        return lines
    stripped = []
    for line in lines:
        text = line[len(MAGIC_PREFIX) :] if line.startswith(MAGIC_PREFIX) else line
        stripped.append(text[1:] if text.startswith(" ") else text)
    return stripped


def _ipynb_cells(path: Path) -> list[tuple[str, int, list[str]]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        raw_cells = document["cells"]
    except (ValueError, KeyError, TypeError) as exc:
        raise TaskSetupError(
            f"{path.name} is not a readable .ipynb notebook: {exc}",
            TerminationCode.INVALID_RUN_CONFIGURATION,
        ) from None
    cells: list[tuple[str, int, list[str]]] = []
    for index, cell in enumerate(raw_cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        cells.append((f"{path} [cell {index}]", 1, text.splitlines()))
    return cells


def _resolve_run_target(workspace_dir: Path, notebook: Path, target: str) -> Path:
    if target.startswith("/"):
        workspace_path = target
    else:
        here = PurePosixPath("/") / notebook.parent.relative_to(workspace_dir.resolve()).as_posix()
        workspace_path = str(here / target)
    return resolve_notebook(workspace_dir, _normalise(workspace_path))


def _normalise(posix_path: str) -> str:
    parts: list[str] = []
    for part in PurePosixPath(posix_path).parts[1:]:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def _strip_workspace_prefix(path: str) -> str:
    return path.removeprefix("/Workspace") if path.startswith("/Workspace/") else path


def _inside(root: Path, absolute_path: str) -> Path:
    """Map an absolute workspace/DBFS path under ``root``, refusing escapes with ``..``."""
    root = root.resolve()
    candidate = (root / absolute_path.lstrip("/")).resolve()
    if candidate != root and root not in candidate.parents:
        raise TaskSetupError(
            f"path {absolute_path!r} leaves the local workspace",
            TerminationCode.INVALID_RUN_CONFIGURATION,
        )
    return candidate

"""Source notebooks and workspace paths, read the way the local backend reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.databricks.local._notebook_source import (
    TaskSetupError,
    load_notebook_cells,
    resolve_notebook,
    resolve_python_file,
)


def _write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cells_magics_and_line_numbers(tmp_path: Path) -> None:
    _write(tmp_path, "Shared/lib.py", "# Databricks notebook source\nLIB = 1\n")
    notebook = _write(
        tmp_path,
        "Shared/main.py",
        "# Databricks notebook source\n"
        "# MAGIC %md\n"
        "# MAGIC # Title\n"
        "\n"
        "# COMMAND ----------\n"
        "\n"
        "x = 1\n"
        "\n"
        "# COMMAND ----------\n"
        "\n"
        "# MAGIC %run ./lib\n"
        "\n"
        "# COMMAND ----------\n"
        "\n"
        "# MAGIC %python\n"
        "# MAGIC y = x + LIB\n",
    )
    cells = load_notebook_cells(tmp_path, notebook)
    assert [cell.source.strip() for cell in cells] == ["x = 1", "LIB = 1", "y = x + LIB"]
    assert [cell.first_line for cell in cells] == [7, 2, 16]
    assert cells[1].filename.endswith("lib.py")


@pytest.mark.parametrize("magic", ["%sql", "%sh", "%pip"])
def test_cells_in_other_languages_cannot_run(tmp_path: Path, magic: str) -> None:
    notebook = _write(
        tmp_path, "n.py", f"# Databricks notebook source\n# MAGIC {magic} something\n"
    )
    with pytest.raises(TaskSetupError, match=f"uses {magic}"):
        load_notebook_cells(tmp_path, notebook)


def test_workspace_and_dbfs_paths(tmp_path: Path) -> None:
    workspace, dbfs = tmp_path / "ws", tmp_path / "dbfs"
    notebook = _write(workspace, "Shared/ETL/x.py", "# Databricks notebook source\n")
    assert resolve_notebook(workspace, "/Shared/ETL/x") == notebook.resolve()
    assert resolve_notebook(workspace, "/Workspace/Shared/ETL/x") == notebook.resolve()
    script = _write(dbfs, "scripts/job.py", "print(1)\n")
    assert resolve_python_file(workspace, dbfs, "dbfs:/scripts/job.py") == script.resolve()
    assert resolve_python_file(workspace, dbfs, "/dbfs/scripts/job.py") == script.resolve()
    with pytest.raises(TaskSetupError, match="leaves the local workspace"):
        resolve_notebook(workspace, "/../../etc/passwd")
    with pytest.raises(TaskSetupError, match="relative"):
        resolve_notebook(workspace, "Shared/ETL/x")
    with pytest.raises(TaskSetupError, match="Notebook not found"):
        resolve_notebook(workspace, "/Shared/ETL/y")

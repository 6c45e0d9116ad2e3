"""Where the local backend keeps its files, and how it presents itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalBackendConfig:
    # notebook_path "/Shared/ETL/x" -> workspace_dir/"Shared/ETL/x" (.py or .ipynb)
    workspace_dir: Path
    # "dbfs:/a/b" -> dbfs_root/"a/b"; tasks see it as env LOCKGATE_DBFS_ROOT
    dbfs_root: Path
    # one scratch dir per task run, holding its spec, result and captured stdout/stderr
    runs_dir: Path
    max_parallel_tasks: int = 8
    workspace_id: int = 1234567890123456
    public_url: str = "http://127.0.0.1:8091"  # only used to build run_page_url

"""Where the local backend keeps its files, and how it presents itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalBackendConfig:
    # notebook_path "/Shared/ETL/x" -> workspace_dir/"Shared/ETL/x" (.py or .ipynb)
    workspace_dir: Path
    # "dbfs:/a/b" -> dbfs_root/"a/b", "/Volumes/c/s/v" -> dbfs_root/"Volumes/c/s/v";
    # tasks see it as env LOCKGATE_DBFS_ROOT
    dbfs_root: Path
    # one scratch dir per task run, holding its spec, result and captured stdout/stderr
    runs_dir: Path
    max_parallel_tasks: int = 8
    workspace_id: int = 1234567890123456
    public_url: str = "http://127.0.0.1:8091"  # only used to build run_page_url
    # Jobs and runs live in this SQLite file (default: runs_dir/local-databricks.sqlite3).
    state_path: Path | None = None
    # sql_task runs on this DuckDB database (default: runs_dir/sql-warehouse.duckdb).
    sql_warehouse_path: Path | None = None
    # Commands standing in for pipeline_task and dbt_task (shell words); None = unavailable.
    pipeline_command: str | None = None
    dbt_command: str | None = None
    # The same idempotency_token with other parameters: True -> 409 RESOURCE_CONFLICT (what
    # Lockgate's issue asks for); False -> the existing run, as a real workspace answers.
    reject_reused_idempotency_tokens: bool = True

    @property
    def database_path(self) -> Path:
        return self.state_path or self.runs_dir / "local-databricks.sqlite3"

    @property
    def warehouse_path(self) -> Path:
        return self.sql_warehouse_path or self.runs_dir / "sql-warehouse.duckdb"

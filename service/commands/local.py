"""`lockgate local-databricks`: the local Databricks backend on its own.

Anyone can try their Jobs JSON against it with the Databricks CLI or SDK
(``DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=anything``). Its jobs and
runs are kept in ``DATA_DIR/runs/local-databricks.sqlite3`` and survive a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from service.settings import Settings, get_settings

if TYPE_CHECKING:  # the backend (FastAPI, uvicorn) is imported only when the command runs
    from service.databricks.local import LocalBackendConfig


def local_databricks_config(
    settings: Settings, *, workspace_dir: Path, dbfs_root: Path, runs_dir: Path, public_url: str
) -> LocalBackendConfig:
    """The backend's configuration from Lockgate's settings; the one place that maps the
    `LOCKGATE_LOCAL_*` settings onto it (for `lockgate up` and the standalone command)."""
    from service.databricks.local import LocalBackendConfig

    return LocalBackendConfig(
        workspace_dir=workspace_dir.resolve(),
        dbfs_root=dbfs_root.resolve(),
        runs_dir=runs_dir.resolve(),
        max_parallel_tasks=settings.local_max_parallel_tasks,
        public_url=public_url,
        pipeline_command=settings.local_pipeline_command,
        dbt_command=settings.local_dbt_command,
        reject_reused_idempotency_tokens=settings.local_reject_reused_idempotency_tokens,
    )


def register(app: typer.Typer) -> None:
    """Adds this area's commands to the `lockgate` app."""

    @app.command("local-databricks")
    def local_databricks(
        port: Annotated[int, typer.Option(help="port to listen on")] = 8091,
        host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
        data_dir: Annotated[
            Path | None,
            typer.Option(
                help="workspace, DBFS, runs and state (default: LOCKGATE_DATA_DIR/local-databricks)"
            ),
        ] = None,
    ) -> None:
        """Serve the local Databricks backend alone (Jobs and Workspace APIs)."""
        from service.databricks.local import serve_local_backend

        settings = get_settings()
        directory = data_dir or settings.data_dir / "local-databricks"
        directory = directory.resolve()
        config = local_databricks_config(
            settings,
            workspace_dir=directory / "workspace",
            dbfs_root=directory / "dbfs",
            runs_dir=directory / "runs",
            public_url=f"http://{host}:{port}",
        )
        typer.echo(
            f"local Databricks backend on http://{host}:{port} (data in {directory}); "
            "any bearer token is accepted",
            err=True,
        )
        serve_local_backend(config, host=host, port=port)

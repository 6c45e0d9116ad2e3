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
    settings: Settings, data_dir: Path, host: str, port: int
) -> LocalBackendConfig:
    from service.databricks.local import LocalBackendConfig

    data_dir = data_dir.resolve()
    return LocalBackendConfig(
        workspace_dir=data_dir / "workspace",
        dbfs_root=data_dir / "dbfs",
        runs_dir=data_dir / "runs",
        max_parallel_tasks=settings.local_max_parallel_tasks,
        public_url=f"http://{host}:{port}",
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
        config = local_databricks_config(settings, directory, host, port)
        typer.echo(
            f"local Databricks backend on http://{host}:{port} (data in {directory}); "
            "any bearer token is accepted",
            err=True,
        )
        serve_local_backend(config, host=host, port=port)

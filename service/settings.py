"""Lockgate configuration: one pydantic-settings class read from ``LOCKGATE_*`` variables.

Nothing here runs at import time: callers build ``Settings(...)`` (tests) or call
``get_settings()`` (processes), and pass the result down.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOCKGATE_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path(".lockgate")

    # Store: SQLite (WAL) under data_dir unless a URL is given (PostgreSQL in production).
    database_url: str | None = None

    # Broker: a real Redis. When unset, `lockgate up` starts a private redis-server.
    redis_url: str | None = None
    queue_prefix: str = "lockgate"

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    public_url: str | None = None

    # Databricks: a workspace host, or the embedded local backend when unset.
    databricks_host: str | None = None
    databricks_token: SecretStr | None = None
    databricks_auth: Literal["pat", "azure"] = "pat"
    databricks_timeout_seconds: float = 30.0
    local_backend_host: str = "127.0.0.1"
    local_backend_port: int = 8091
    local_workspace_dir: Path | None = None
    local_max_parallel_tasks: int = 8

    # Watching runs
    poll_interval_seconds: float = 5.0
    poll_max_pages: int = 40
    sweep_interval_seconds: float = 10.0
    stuck_after_seconds: float = 15.0

    # Alerts
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "lockgate@localhost"
    alert_signing_secret: SecretStr = SecretStr("lockgate-development-alert-secret")
    alert_timeout_seconds: float = 10.0
    alert_max_attempts: int = 5
    alert_backoff_seconds: float = 5.0

    # Webhook ingress
    webhook_tolerance_seconds: int = Field(default=300, ge=1)

    # --- local backend (issue 4): add fields below this line ---

    # --- run engine (issue 5): add fields below this line ---

    # --- triggers (issue 6): add fields below this line ---

    # --- alerting (issue 7): add fields below this line ---

    @model_validator(mode="after")
    def _refuse_development_secrets_in_production(self) -> Settings:
        if self.environment == "production":
            if self.alert_signing_secret.get_secret_value().startswith("lockgate-development"):
                raise ValueError("set LOCKGATE_ALERT_SIGNING_SECRET in production")
            if self.databricks_host is None:
                raise ValueError("set LOCKGATE_DATABRICKS_HOST in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'lockgate.db').resolve()}"

    @property
    def uses_local_backend(self) -> bool:
        return self.databricks_host is None

    @property
    def databricks_url(self) -> str:
        if self.databricks_host:
            return self.databricks_host
        return f"http://{self.local_backend_host}:{self.local_backend_port}"

    @property
    def mailbox_dir(self) -> Path:
        return self.data_dir / "mailbox"

    @property
    def dbfs_root(self) -> Path:
        return self.data_dir / "dbfs"

    @property
    def workspace_dir(self) -> Path:
        return self.local_workspace_dir or (self.data_dir / "workspace")


@lru_cache
def get_settings() -> Settings:
    return Settings()

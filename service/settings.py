"""Lockgate configuration: one pydantic-settings class read from ``LOCKGATE_*`` variables.

Nothing here runs at import time: callers build ``Settings(...)`` (tests) or call
``get_settings()`` (processes), and pass the result down.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOCKGATE_", env_nested_delimiter="__", extra="ignore"
    )

    environment: Literal["development", "production"] = "development"
    log_format: Literal["plain", "json"] = "plain"
    data_dir: Path = Path(".lockgate")

    # Store: SQLite (WAL) under data_dir unless a URL is given (PostgreSQL in production).
    database_url: str | None = None

    # Broker: a real Redis. When unset, `lockgate up` starts a private redis-server.
    redis_url: str | None = None
    queue_prefix: str = "lockgate"

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # `lockgate api` processes (uvicorn workers); each has its own webhook ledger writer.
    api_workers: int = Field(default=1, ge=1, le=64)
    public_url: str | None = None

    # API access: API keys always; Entra ID (Azure AD) bearer tokens when a tenant is set.
    entra_tenant_id: str | None = None
    entra_audience: str | None = None
    entra_authority_host: str = "https://login.microsoftonline.com"
    entra_jwks_url: str | None = None  # default: {authority}/{tenant}/discovery/v2.0/keys
    entra_issuer: str | None = None  # default: https://login.microsoftonline.com/{tenant}/v2.0
    entra_role_scopes: dict[str, str] = Field(
        default_factory=lambda: {
            "Lockgate.Read": "read",
            "Lockgate.Trigger": "trigger",
            "Lockgate.Admin": "admin",
        }
    )

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
    poll_max_pages: int = 100
    # Runs started this recently are read from one listing of every run since the oldest
    # of them (endings seen at once); older ones from the active listing. Bounds the pages.
    poll_window_seconds: float = Field(default=3600.0, gt=0)
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
    # Commands that stand in for pipeline_task / dbt_task locally (shell words; unset = the
    # task fails with "not available in the local backend").
    local_pipeline_command: str | None = None
    local_dbt_command: str | None = None
    # Same idempotency_token, other parameters: 409 (True) or the existing run, as a real
    # workspace answers (False).
    local_reject_reused_idempotency_tokens: bool = True

    # --- run engine (issue 5): add fields below this line ---
    # Azure AD for the default workspace (LOCKGATE_DATABRICKS_AUTH=azure): which credential.
    databricks_azure_credential: Literal[
        "default", "client_secret", "certificate", "managed_identity"
    ] = "default"
    databricks_azure_tenant_id: str | None = None
    databricks_azure_client_id: str | None = None
    databricks_azure_client_secret: SecretStr | None = None
    databricks_azure_certificate_path: Path | None = None
    databricks_azure_authority_host: str | None = None  # e.g. a sovereign cloud's login host
    # /subscriptions/.../workspaces/NAME: sent (with a management token) when the service
    # principal is not a workspace user yet and Databricks should add it on first use.
    databricks_azure_workspace_resource_id: str | None = None
    # More workspaces: {"name": {"host": ..., "auth": "pat"|"azure", "token": ..., ...}};
    # a workflow picks one with `lockgate.workspace`. "default" is the fields above.
    databricks_profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Jobs API request budgets per workspace: token buckets in Redis shared by all workers,
    # one for reads (GETs) and one for writes (POSTs); see the issue 10 section for their
    # default sizes. Set, these two override the reads bucket's rate and burst.
    databricks_requests_per_second: float | None = Field(default=None, gt=0)
    databricks_request_burst: int | None = Field(default=None, ge=1)
    databricks_budget_max_wait_seconds: float = 30.0
    # Retry policy defaults (a workflow's `lockgate.retry` overrides any of them).
    retry_max_attempts: int = Field(default=1, ge=1)
    retry_initial_backoff_seconds: float = Field(default=30.0, ge=0)
    retry_max_backoff_seconds: float = Field(default=600.0, ge=0)
    retry_multiplier: float = Field(default=2.0, ge=1)
    retry_jitter: float = Field(default=0.1, ge=0, le=1)
    retry_mode: Literal["resubmit", "repair"] = "resubmit"
    # Concurrency queue defaults (a workflow's `lockgate.concurrency` overrides them).
    queue_max_size: int = Field(default=1000, ge=0)
    queue_max_wait_seconds: float = Field(default=48 * 3600, gt=0)
    # The longest a Celery task may hold its message before Redis hands it out again.
    task_visibility_timeout_seconds: int = Field(default=3600, ge=60)
    # The poll sweep's Redis lock: a sweep whose worker died holds polling up this long.
    poll_lock_seconds: float = Field(default=60.0, gt=0)

    # --- triggers (issue 6): add fields below this line ---
    # Webhooks: hook-level values override these defaults.
    webhook_max_body_bytes: int = Field(default=1_048_576, ge=1)
    webhook_rate_limit_per_minute: int | None = Field(default=None, ge=1)
    webhook_secret_grace_seconds: int = Field(default=86_400, ge=0)
    # Group commit: the API's one ledger writer takes up to this many waiting deliveries
    # into one transaction.
    webhook_commit_max_batch: int = Field(default=256, ge=1, le=5000)
    # Under load, how long the writer waits for more deliveries to join a batch.
    webhook_commit_linger_ms: float = Field(default=2.0, ge=0, le=100)
    # SQLite: the ingress commit waits for the disk (an ack survives power loss too).
    webhook_commit_fsync: bool = True
    # Scheduler: sleeps until the next fire (at most tick_seconds); re-reads definitions
    # of changed workflows every sync_seconds. A fire found later than misfire_grace is a
    # misfire, handled by the policy: skip, run_once (the latest), catch_up (up to limit).
    scheduler_tick_seconds: float = Field(default=1.0, gt=0)
    scheduler_sync_seconds: float = Field(default=10.0, gt=0)
    # Schedules claimed and recorded per transaction; a larger burst takes several.
    scheduler_batch_size: int = Field(default=1000, ge=1)
    scheduler_misfire_policy: Literal["skip", "run_once", "catch_up"] = "run_once"
    scheduler_misfire_limit: int = Field(default=10, ge=1)
    scheduler_misfire_grace_seconds: float = Field(default=60.0, ge=0)
    # File arrival: Azure Blob by default; with local_inbox_dir set (``lockgate up``) every
    # watch reads <inbox>/<container>/<path> on local disk instead.
    listener_poll_seconds: float = Field(default=10.0, gt=0)
    listener_lease_seconds: float = Field(default=120.0, gt=0)
    local_inbox_dir: Path | None = None
    blob_connection_string: SecretStr | None = None
    blob_account_url: str | None = None  # e.g. Azurite's http://127.0.0.1:10000/devstoreaccount1
    blob_account_key: SecretStr | None = None
    blob_sas_token: SecretStr | None = None
    blob_use_identity: bool = False  # azure-identity DefaultAzureCredential
    # Event Grid push (POST /events/eventgrid): a shared key in ?key= or aeg-sas-key.
    eventgrid_access_key: SecretStr | None = None

    # --- alerting (issue 7): add fields below this line ---
    # Repeats of the same workflow + event + failing tasks to one target within this window
    # become a count on the first alert; at most `throttle_limit` alerts per target and
    # workflow within the throttle window (0 turns throttling off).
    alert_dedupe_window_seconds: float = Field(default=900.0, ge=0)
    alert_throttle_window_seconds: float = Field(default=3600.0, ge=0)
    alert_throttle_limit: int = Field(default=10, ge=0)
    # Webhook egress: addresses a webhook may resolve to although private, loopback or
    # link-local (CIDRs). Unset: loopback in development, nothing in production.
    alert_egress_allowed_networks: list[str] | None = None
    alert_max_redirects: int = Field(default=3, ge=0)

    # --- Databricks events (issue 10): add fields below this line ---
    # Notification hints: with a secret set, Lockgate registers itself as a notification
    # destination of each workspace (posting to public_url) and attaches it to the runs it
    # starts; the Basic auth password Databricks sends is derived from this secret.
    databricks_hint_secret: SecretStr | None = None
    # The poll sweep's pace while hints are on: only the safety net for lost hints.
    hinted_poll_interval_seconds: float = Field(default=30.0, gt=0)
    # Request budgets: each bucket refills at this share of Databricks' per-workspace limit
    # for its class (leaving the rest to the workspace's other clients), and holds one
    # second of that rate: no second sees more than twice it (at 0.5, the limit itself).
    databricks_budget_share: float = Field(default=0.5, gt=0, le=1)
    # Databricks' per-workspace limit for reads (runs/get: about 100 req/s).
    databricks_reads_limit_per_second: float = Field(default=100.0, gt=0)
    # ... and for writes (run-now and the jobs calls: about 20 req/s).
    databricks_writes_limit_per_second: float = Field(default=20.0, gt=0)
    # --- workspace watcher (issue 10): add fields below this line ---
    # Workspace profiles whose every ended run is watched (JSON list; [] watches none).
    workspace_watch_profiles: list[str] = Field(default_factory=lambda: ["default"])
    # How often the watcher lists each workspace's ended runs.
    workspace_watch_interval_seconds: float = Field(default=10.0, gt=0)
    # How far its checkpoint trails the clock: clock skew and start times written late.
    workspace_watch_overlap_seconds: float = Field(default=120.0, ge=0)
    # Pages (25 runs each) one listing reads before a pass stops; the rest comes next pass.
    workspace_watch_max_pages: int = Field(default=400, ge=1)
    # How often the names and tags of every job (what job selectors match) are re-read.
    workspace_jobs_refresh_seconds: float = Field(default=60.0, gt=0)

    # --- job-completion triggers (issue 10): add fields below this line ---

    # --- alerts for any job (issue 10): add fields below this line ---

    # --- store (issue 8): add fields below this line ---
    # PostgreSQL connection pool, per process (the API, each worker); SQLite ignores these.
    # Connections kept open in the pool.
    database_pool_size: int = Field(default=10, ge=1)
    # Extra connections opened under load beyond pool_size, closed when returned.
    database_max_overflow: int = Field(default=10, ge=0)
    # How long a request waits for a free connection before failing.
    database_pool_timeout_seconds: float = Field(default=30.0, gt=0)
    # Replace connections older than this, ahead of server or proxy idle cut-offs (-1: never).
    database_pool_recycle_seconds: int = Field(default=1800, ge=-1)
    # Check a pooled connection before use, so a server restart costs a reconnect, not a 500.
    database_pool_pre_ping: bool = True
    # Give up connecting after this long (a dead host otherwise waits for TCP's own timeout).
    database_connect_timeout_seconds: int = Field(default=10, ge=1)

    # --- operations (issue 8): add fields below this line ---
    # On SIGTERM the API, worker, scheduler and listener take no new work and let the work
    # in hand finish for this long; then the worker hands unfinished tasks back to the
    # queue, and every process exits 0. Keep it under the orchestrator's kill timeout
    # (docker stop waits 10 s, Kubernetes 30 s by default).
    shutdown_grace_seconds: float = Field(default=8.0, ge=0)

    # --- console (issue 11): add fields below this line ---
    # How long a console sign-in lasts (absolute: the session ends this long after sign-in).
    console_session_seconds: float = Field(default=12 * 3600, gt=0)
    # How often a console page's live stream (server-sent events) looks for changes.
    console_stream_interval_seconds: float = Field(default=1.0, gt=0)
    # Signs self-service subscription links (confirm, one-click unsubscribe). Unlike
    # alert_signing_secret it is never shared with receivers; in production the
    # development value is refused and mails go out without unsubscribe links.
    subscription_secret: SecretStr = SecretStr("lockgate-development-subscription-secret")
    # How long a subscription's confirmation link works.
    subscription_confirm_seconds: float = Field(default=48 * 3600, gt=0)
    # Entra ID sign-in to the console through Microsoft's sign-in page (OpenID Connect,
    # authorization code with PKCE), with LOCKGATE_ENTRA_TENANT_ID: the app registration's
    # client id and a client secret. Register {public_url}/ui/sign-in/entra/callback and
    # {public_url}/ui/sign-in (signing out returns there) as its Web redirect URIs; a
    # person's app roles (entra_role_scopes) are their scopes.
    console_entra_client_id: str | None = None
    console_entra_client_secret: SecretStr | None = None

    @property
    def alert_egress_networks(self) -> tuple[str, ...]:
        if self.alert_egress_allowed_networks is not None:
            return tuple(self.alert_egress_allowed_networks)
        if self.environment == "development":
            return ("127.0.0.0/8", "::1/128")
        return ()

    @property
    def lockgate_base_url(self) -> str:
        """Where alert links point: ``public_url``, else the API's own address."""
        return self.public_url or f"http://{self.api_host}:{self.api_port}"

    @model_validator(mode="after")
    def _console_entra_sign_in_is_complete(self) -> Settings:
        if self.console_entra_client_id and not self.entra_tenant_id:
            raise ValueError("LOCKGATE_CONSOLE_ENTRA_CLIENT_ID needs LOCKGATE_ENTRA_TENANT_ID")
        if self.console_entra_client_id and self.console_entra_client_secret is None:
            raise ValueError(
                "LOCKGATE_CONSOLE_ENTRA_CLIENT_ID needs LOCKGATE_CONSOLE_ENTRA_CLIENT_SECRET"
            )
        return self

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

"""Workspace profiles: which Databricks workspace, and how to sign in to it.

A workflow names a profile (``lockgate.workspace``); ``default`` is the workspace of the
``LOCKGATE_DATABRICKS_*`` settings (the local backend when no host is set). Further
profiles come from ``LOCKGATE_DATABRICKS_PROFILES`` (JSON), one entry per name::

    {"emea": {"host": "adb-1.azuredatabricks.net", "auth": "azure",
              "azure_credential": "client_secret", "azure_tenant_id": "...",
              "azure_client_id": "...", "azure_client_secret": "...",
              "requests_per_second": 5}}

Each profile has its own request budget (one token bucket per workspace).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from service.settings import Settings

__all__ = ["DEFAULT_PROFILE", "UnknownWorkspaceProfile", "WorkspaceProfile", "workspace_profile"]

DEFAULT_PROFILE = "default"

AzureCredentialKind = Literal["default", "client_secret", "certificate", "managed_identity"]


class UnknownWorkspaceProfile(ValueError):
    """A workflow names a workspace profile the settings do not define (or define badly)."""


class WorkspaceProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = DEFAULT_PROFILE
    host: str
    auth: Literal["pat", "azure"] = "pat"
    token: SecretStr | None = None
    azure_credential: AzureCredentialKind = "default"
    azure_tenant_id: str | None = None
    azure_client_id: str | None = None
    azure_client_secret: SecretStr | None = None
    azure_certificate_path: Path | None = None
    azure_authority_host: str | None = None
    azure_workspace_resource_id: str | None = None
    # For an authority that is not a public Azure cloud (Azure Stack, a test endpoint):
    # skip MSAL's instance discovery call to login.microsoftonline.com.
    azure_disable_instance_discovery: bool = False
    requests_per_second: float = Field(default=9.0, gt=0)
    request_burst: int = Field(default=60, ge=1)
    # The embedded local backend: a PAT header with a fixed value is enough.
    local: bool = False


def _default_profile(settings: Settings) -> WorkspaceProfile:
    return WorkspaceProfile(
        name=DEFAULT_PROFILE,
        host=settings.databricks_url,
        auth=settings.databricks_auth,
        token=settings.databricks_token,
        azure_credential=settings.databricks_azure_credential,
        azure_tenant_id=settings.databricks_azure_tenant_id,
        azure_client_id=settings.databricks_azure_client_id,
        azure_client_secret=settings.databricks_azure_client_secret,
        azure_certificate_path=settings.databricks_azure_certificate_path,
        azure_authority_host=settings.databricks_azure_authority_host,
        azure_workspace_resource_id=settings.databricks_azure_workspace_resource_id,
        requests_per_second=settings.databricks_requests_per_second,
        request_burst=settings.databricks_request_burst,
        local=settings.uses_local_backend,
    )


def workspace_profile(settings: Settings, name: str | None = None) -> WorkspaceProfile:
    name = name or DEFAULT_PROFILE
    configured = settings.databricks_profiles.get(name)
    if configured is None:
        if name == DEFAULT_PROFILE:
            return _default_profile(settings)
        known = ", ".join(sorted({DEFAULT_PROFILE, *settings.databricks_profiles}))
        raise UnknownWorkspaceProfile(f"no workspace profile {name!r} (known: {known})")
    try:
        return WorkspaceProfile.model_validate({**configured, "name": name})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise UnknownWorkspaceProfile(f"workspace profile {name!r} is invalid: {problems}") from exc

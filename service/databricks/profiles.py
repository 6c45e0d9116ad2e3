"""Workspace profiles: which Databricks workspace, and how to sign in to it.

A workflow names a profile (``lockgate.workspace``); ``default`` is the workspace of the
``LOCKGATE_DATABRICKS_*`` settings (the local backend when no host is set). Further
profiles come from ``LOCKGATE_DATABRICKS_PROFILES`` (JSON), one entry per name::

    {"emea": {"host": "adb-1.azuredatabricks.net", "auth": "azure",
              "azure_credential": "client_secret", "azure_tenant_id": "...",
              "azure_client_id": "...", "azure_client_secret": "...",
              "requests_per_second": 5}}

Each profile has its own request budgets, one token bucket per request class
(`budget_size`). By default a bucket refills at ``LOCKGATE_DATABRICKS_BUDGET_SHARE`` of
Databricks' limit for its class (``LOCKGATE_DATABRICKS_READS_LIMIT_PER_SECOND``,
``..._WRITES_LIMIT_PER_SECOND``) and holds one second of that rate. A profile's
``requests_per_second`` / ``request_burst`` (for ``default``:
``LOCKGATE_DATABRICKS_REQUESTS_PER_SECOND`` / ``_REQUEST_BURST``) set the reads bucket
instead, as they set the one bucket before there were two; ``writes_per_second`` /
``write_burst`` set the writes bucket.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from service.databricks.budget import RequestClass
from service.settings import Settings

__all__ = [
    "DEFAULT_PROFILE",
    "BudgetSize",
    "UnknownWorkspaceProfile",
    "WorkspaceProfile",
    "budget_size",
    "workspace_profile",
]

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
    # Explicit bucket sizes; unset, `budget_size` derives them from the settings.
    requests_per_second: float | None = Field(default=None, gt=0)  # reads
    request_burst: int | None = Field(default=None, ge=1)
    writes_per_second: float | None = Field(default=None, gt=0)
    write_burst: int | None = Field(default=None, ge=1)
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


@dataclass(frozen=True)
class BudgetSize:
    rate: float  # tokens (requests) per second
    burst: int  # the most tokens the bucket holds


def budget_size(
    settings: Settings, profile: WorkspaceProfile, request_class: RequestClass
) -> BudgetSize:
    """The token bucket for one class of a workspace's requests: the profile's explicit
    size where it has one, else the configured share of Databricks' limit, holding one
    second of that rate (so with the default share of one half, no second of traffic
    exceeds the limit, even on a full bucket)."""
    if request_class is RequestClass.READS:
        rate, burst = profile.requests_per_second, profile.request_burst
        limit = settings.databricks_reads_limit_per_second
    else:
        rate, burst = profile.writes_per_second, profile.write_burst
        limit = settings.databricks_writes_limit_per_second
    rate = rate if rate is not None else settings.databricks_budget_share * limit
    return BudgetSize(rate=rate, burst=burst if burst is not None else max(1, math.ceil(rate)))

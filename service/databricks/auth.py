"""How the client proves who it is: an ``httpx.Auth`` chosen once, when the client is built.

- `PatAuth`: a personal access token as a bearer header.
- `AzureAdAuth`: an Azure AD token for the Azure Databricks resource from any azure-identity
  ``TokenCredential`` (service principal with a secret or a certificate, managed
  identity, DefaultAzureCredential). The token is cached and refreshed a fixed lead time
  before it expires, so a request never leaves with a token about to lapse; a 401 drops
  the cached token and the request is resent once with a freshly fetched one (a revoked
  or rotated token). With a workspace resource id it also sends the Azure management
  token and the resource id (``X-Databricks-Azure-SP-Management-Token``,
  ``X-Databricks-Azure-Workspace-Resource-Id``), so a service principal that is not yet
  a workspace user is let in (and added) by Databricks.

Credentials accept an authority host (sovereign clouds, or a local token endpoint in
the tests); the credential is built once, with the client.

Tokens never appear in logs, exception messages or reprs: both classes hold them in
private attributes and print only their kind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator

import httpx
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.identity import (
    CertificateCredential,
    ClientSecretCredential,
    DefaultAzureCredential,
    ManagedIdentityCredential,
)
from pydantic import SecretStr

from service.databricks.errors import CredentialError
from service.databricks.profiles import WorkspaceProfile, workspace_profile
from service.settings import Settings

__all__ = [
    "AZURE_MANAGEMENT_SCOPE",
    "DATABRICKS_AZURE_SCOPE",
    "LOCAL_BACKEND_TOKEN",
    "AzureAdAuth",
    "PatAuth",
    "auth_for_profile",
    "auth_from_settings",
    "azure_credential_for",
]

# The well-known application id of Azure Databricks; tokens for it open every workspace
# the identity has been added to.
DATABRICKS_AZURE_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"

# Azure Resource Manager: the second token a non-workspace-user service principal sends.
AZURE_MANAGEMENT_SCOPE = "https://management.core.windows.net/.default"
WORKSPACE_RESOURCE_ID_HEADER = "X-Databricks-Azure-Workspace-Resource-Id"
MANAGEMENT_TOKEN_HEADER = "X-Databricks-Azure-SP-Management-Token"

# Sent to the embedded local backend when no token is configured. Not a secret: the
# local backend only needs a bearer header to be present, like a workspace would.
LOCAL_BACKEND_TOKEN = "lockgate-local-backend"


class PatAuth(httpx.Auth):
    """A Databricks personal access token sent as ``Authorization: Bearer``."""

    def __init__(self, token: str | SecretStr) -> None:
        value = token.get_secret_value() if isinstance(token, SecretStr) else token
        if not value:
            raise ValueError("a Databricks personal access token must not be empty")
        self._header = f"Bearer {value}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "PatAuth(token=***)"


class AzureAdAuth(httpx.Auth):
    """An Azure AD bearer token for Azure Databricks, cached until shortly before expiry."""

    def __init__(
        self,
        credential: TokenCredential,
        *,
        scope: str = DATABRICKS_AZURE_SCOPE,
        refresh_lead_seconds: float = 120.0,
        clock: Callable[[], float] = time.time,
        workspace_resource_id: str | None = None,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._refresh_lead_seconds = refresh_lead_seconds
        self._clock = clock  # epoch seconds, the unit of AccessToken.expires_on
        self._workspace_resource_id = workspace_resource_id
        self._lock = threading.Lock()
        # scope -> (token, expires_on); only the two fields (AccessToken's repr prints it).
        self._tokens: dict[str, tuple[str, float]] = {}

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        # Overridden (not auth_flow) because fetching a token does I/O and takes a lock.
        token = self._sign(request)
        response = yield request
        if response.status_code != 401:
            return
        # Resend once: the cached token may have been revoked or rotated before expiry.
        self._forget(token)
        self._sign(request)
        yield request

    def _sign(self, request: httpx.Request) -> str:
        token = self._current_token(request, self._scope)
        request.headers["Authorization"] = f"Bearer {token}"
        if self._workspace_resource_id:
            request.headers[WORKSPACE_RESOURCE_ID_HEADER] = self._workspace_resource_id
            request.headers[MANAGEMENT_TOKEN_HEADER] = self._current_token(
                request, AZURE_MANAGEMENT_SCOPE
            )
        return token

    def _current_token(self, request: httpx.Request, scope: str) -> str:
        with self._lock:
            cached = self._tokens.get(scope)
            if cached is None or self._clock() >= cached[1] - self._refresh_lead_seconds:
                try:
                    access = self._credential.get_token(scope)
                except AzureError as exc:
                    # Azure's messages name the credential that failed, not any token.
                    raise CredentialError(
                        f"could not get an Azure AD token for Databricks: {exc}",
                        method=request.method,
                        path=request.url.path,
                    ) from exc
                cached = (access.token, float(access.expires_on))
                self._tokens[scope] = cached
            return cached[0]

    def _forget(self, token: str) -> None:
        with self._lock:
            # Another thread may already have replaced the token this request used.
            if self._tokens.get(self._scope, ("", 0.0))[0] == token:
                self._tokens.pop(self._scope, None)

    def __repr__(self) -> str:
        return f"AzureAdAuth(credential={type(self._credential).__name__}, scope={self._scope!r})"


def azure_credential_for(profile: WorkspaceProfile) -> TokenCredential:
    """The azure-identity credential a profile names. No I/O until the first token."""
    kwargs: dict[str, object] = {}
    if profile.azure_authority_host:
        kwargs["authority"] = profile.azure_authority_host
    if profile.azure_disable_instance_discovery:
        kwargs["disable_instance_discovery"] = True
    kind = profile.azure_credential
    if kind in ("client_secret", "certificate"):
        if not (profile.azure_tenant_id and profile.azure_client_id):
            raise ValueError(f"{kind} needs azure_tenant_id and azure_client_id")
        if kind == "client_secret":
            if profile.azure_client_secret is None:
                raise ValueError("client_secret needs azure_client_secret")
            return ClientSecretCredential(
                profile.azure_tenant_id,
                profile.azure_client_id,
                profile.azure_client_secret.get_secret_value(),
                **kwargs,
            )
        if profile.azure_certificate_path is None:
            raise ValueError("certificate needs azure_certificate_path (a PEM or PFX file)")
        return CertificateCredential(
            profile.azure_tenant_id,
            profile.azure_client_id,
            str(profile.azure_certificate_path),
            **kwargs,
        )
    if kind == "managed_identity":
        # A user-assigned identity is named by its client id; none means system-assigned.
        return ManagedIdentityCredential(client_id=profile.azure_client_id)
    kwargs.pop("disable_instance_discovery", None)  # DefaultAzureCredential does not take it
    # DefaultAzureCredential reads the standard AZURE_* variables, workload and managed
    # identity, or the Azure CLI.
    if profile.azure_client_id:
        kwargs["managed_identity_client_id"] = profile.azure_client_id
    return DefaultAzureCredential(**kwargs)


def auth_for_profile(profile: WorkspaceProfile) -> httpx.Auth:
    """The auth strategy a workspace profile names, chosen once per client."""
    if profile.auth == "azure":
        return AzureAdAuth(
            azure_credential_for(profile),
            workspace_resource_id=profile.azure_workspace_resource_id,
        )
    if profile.token is not None:
        return PatAuth(profile.token)
    if profile.local:
        return PatAuth(LOCAL_BACKEND_TOKEN)
    raise ValueError(
        f"workspace profile {profile.name!r} uses a personal access token but sets none"
        " (LOCKGATE_DATABRICKS_TOKEN for the default profile)"
    )


def auth_from_settings(settings: Settings) -> httpx.Auth:
    """The auth strategy of the default workspace profile."""
    return auth_for_profile(workspace_profile(settings))

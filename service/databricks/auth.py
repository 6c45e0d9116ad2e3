"""How the client proves who it is: an ``httpx.Auth`` chosen once, when the client is built.

- `PatAuth`: a personal access token as a bearer header.
- `AzureAdAuth`: an Azure AD token for the Azure Databricks resource from any azure-identity
  ``TokenCredential`` (service principal, managed or workload identity, the Azure CLI...).
  The token is cached and refreshed a fixed lead time before it expires, so a request
  never leaves with a token about to lapse; a 401 drops the cached token and the request
  is resent once with a freshly fetched one (a revoked or rotated token).

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
from azure.identity import DefaultAzureCredential
from pydantic import SecretStr

from service.databricks.errors import CredentialError
from service.settings import Settings

__all__ = [
    "DATABRICKS_AZURE_SCOPE",
    "LOCAL_BACKEND_TOKEN",
    "AzureAdAuth",
    "PatAuth",
    "auth_from_settings",
]

# The well-known application id of Azure Databricks; tokens for it open every workspace
# the identity has been added to.
DATABRICKS_AZURE_SCOPE = "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default"

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
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._refresh_lead_seconds = refresh_lead_seconds
        self._clock = clock  # epoch seconds, the unit of AccessToken.expires_on
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_on = 0.0

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        # Overridden (not auth_flow) because fetching a token does I/O and takes a lock.
        token = self._current_token(request)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401:
            return
        # Resend once: the cached token may have been revoked or rotated before expiry.
        self._forget(token)
        request.headers["Authorization"] = f"Bearer {self._current_token(request)}"
        yield request

    def _current_token(self, request: httpx.Request) -> str:
        with self._lock:
            if (
                self._token is None
                or self._clock() >= self._expires_on - self._refresh_lead_seconds
            ):
                try:
                    access = self._credential.get_token(self._scope)
                except AzureError as exc:
                    # Azure's messages name the credential that failed, not any token.
                    raise CredentialError(
                        f"could not get an Azure AD token for Databricks: {exc}",
                        method=request.method,
                        path=request.url.path,
                    ) from exc
                # Keep only the two fields: AccessToken's repr would print the token.
                self._token, self._expires_on = access.token, float(access.expires_on)
            return self._token

    def _forget(self, token: str) -> None:
        with self._lock:
            # Another thread may already have replaced the token this request used.
            if self._token == token:
                self._token = None

    def __repr__(self) -> str:
        return f"AzureAdAuth(credential={type(self._credential).__name__}, scope={self._scope!r})"


def auth_from_settings(settings: Settings) -> httpx.Auth:
    """The auth strategy the settings name, chosen once per client."""
    if settings.databricks_auth == "azure":
        # DefaultAzureCredential reads the standard AZURE_* variables, managed and workload
        # identity, or the Azure CLI; it does no I/O until the first token is needed.
        return AzureAdAuth(DefaultAzureCredential())
    if settings.databricks_token is not None:
        return PatAuth(settings.databricks_token)
    if settings.uses_local_backend:
        return PatAuth(LOCAL_BACKEND_TOKEN)
    raise ValueError(
        "LOCKGATE_DATABRICKS_AUTH=pat needs LOCKGATE_DATABRICKS_TOKEN for a Databricks workspace"
    )

"""Azure AD sign-in through azure-identity's real credential classes, against a local
token endpoint standing in for Entra ID (HTTPS with a self-signed certificate the test
trusts, since azure-identity accepts only https authorities), and the Databricks fixture
server checking the headers it receives."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from service.databricks import (
    AZURE_MANAGEMENT_SCOPE,
    DATABRICKS_AZURE_SCOPE,
    AzureAdAuth,
    DatabricksClient,
    WorkspaceProfile,
    auth_for_profile,
    azure_credential_for,
)
from tests.databricks.conftest import FixtureServer, Reply
from tests.self_signed import write_self_signed

TENANT = "tenant-0001"
CANCEL = "/api/2.2/jobs/runs/cancel"


@dataclass
class TokenEndpoint:
    url: str
    expires_in: int = 3600
    issued: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def token_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TokenEndpoint]:
    tls = write_self_signed(tmp_path)
    cert_path, key_path = tls.cert, tls.key
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    endpoint = TokenEndpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def _json(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            base = endpoint.url
            if self.path.startswith("/msi/token"):  # App Service managed identity
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                endpoint.issued.append(
                    {"msi": "1", **query, "header": self.headers.get("X-IDENTITY-HEADER", "")}
                )
                self._json(
                    {
                        "access_token": f"mi-token-{len(endpoint.issued)}",
                        "expires_on": str(int(time.time()) + endpoint.expires_in),
                        "resource": query.get("resource", ""),
                        "token_type": "Bearer",
                    }
                )
                return
            self._json(
                {
                    "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/{TENANT}/v2.0",
                    "device_authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/devicecode",
                }
            )

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            endpoint.issued.append(form)
            self._json(
                {
                    "token_type": "Bearer",
                    "expires_in": endpoint.expires_in,
                    "access_token": f"aad-token-{len(endpoint.issued)}",
                }
            )

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    endpoint.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield endpoint
    server.shutdown()
    server.server_close()


def _profile(endpoint: TokenEndpoint, server: FixtureServer, **extra: Any) -> WorkspaceProfile:
    values: dict[str, Any] = {
        "host": server.url,
        "auth": "azure",
        "azure_credential": "client_secret",
        "azure_tenant_id": TENANT,
        "azure_client_id": "app-1",
        "azure_client_secret": "s3cret-value",
        "azure_authority_host": endpoint.url,
        "azure_disable_instance_discovery": True,
    }
    values.update(extra)
    return WorkspaceProfile(**values)


def _cancel(profile: WorkspaceProfile) -> None:
    with DatabricksClient(profile.host, auth_for_profile(profile), max_retry_seconds=0) as client:
        client.cancel_run(1)


def _authorizations(server: FixtureServer) -> list[str]:
    return [r.headers.get("authorization", "") for r in server.received("POST", CANCEL)]


def test_service_principal_secret_gets_a_databricks_token_and_caches_it(
    token_endpoint: TokenEndpoint, server: FixtureServer
) -> None:
    server.on("POST", CANCEL, Reply(200, {}))
    profile = _profile(token_endpoint, server)
    with DatabricksClient(profile.host, auth_for_profile(profile), max_retry_seconds=0) as client:
        client.cancel_run(1)
        client.cancel_run(2)
    assert _authorizations(server) == ["Bearer aad-token-1", "Bearer aad-token-1"]
    [issued] = token_endpoint.issued
    assert issued["grant_type"] == "client_credentials"
    assert issued["client_id"] == "app-1" and issued["client_secret"] == "s3cret-value"
    assert DATABRICKS_AZURE_SCOPE in issued["scope"]
    assert "s3cret" not in repr(auth_for_profile(profile))


def test_the_token_is_refreshed_before_it_expires(
    token_endpoint: TokenEndpoint, server: FixtureServer
) -> None:
    server.on("POST", CANCEL, Reply(200, {}))
    # Valid for 240 s (under MSAL's five-minute floor, so its own cache never answers) and
    # refreshed 120 s ahead: the clock, not the machine's speed, decides when.
    token_endpoint.expires_in = 240
    profile = _profile(token_endpoint, server)
    start = time.time()
    offset = [0.0]
    auth = AzureAdAuth(azure_credential_for(profile), clock=lambda: start + offset[0])
    with DatabricksClient(profile.host, auth, max_retry_seconds=0) as client:
        client.cancel_run(1)
        offset[0] = 100.0  # 140 s left: still the cached token
        client.cancel_run(2)
        offset[0] = 200.0  # at most 40 s left
        client.cancel_run(3)
    tokens = _authorizations(server)
    assert tokens[0] == tokens[1] != tokens[2]
    assert len(token_endpoint.issued) == 2


def test_workspace_resource_id_sends_the_management_token(
    token_endpoint: TokenEndpoint, server: FixtureServer
) -> None:
    server.on("POST", CANCEL, Reply(200, {}))
    resource = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Databricks/workspaces/w"
    _cancel(_profile(token_endpoint, server, azure_workspace_resource_id=resource))
    [request] = server.received("POST", CANCEL)
    assert request.headers["x-databricks-azure-workspace-resource-id"] == resource
    scopes = [i["scope"] for i in token_endpoint.issued]
    assert any(DATABRICKS_AZURE_SCOPE in s for s in scopes)
    assert any(AZURE_MANAGEMENT_SCOPE in s for s in scopes)
    management = request.headers["x-databricks-azure-sp-management-token"]
    assert management.startswith("aad-token-") and management != request.headers[
        "authorization"
    ].removeprefix("Bearer ")


def test_managed_identity_through_the_app_service_endpoint(
    token_endpoint: TokenEndpoint, server: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.on("POST", CANCEL, Reply(200, {}))
    monkeypatch.setenv("IDENTITY_ENDPOINT", f"{token_endpoint.url}/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", "identity-header-value")
    _cancel(WorkspaceProfile(host=server.url, auth="azure", azure_credential="managed_identity"))
    assert _authorizations(server) == ["Bearer mi-token-1"]
    [issued] = token_endpoint.issued
    assert issued["header"] == "identity-header-value"
    assert issued["resource"].startswith("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d")

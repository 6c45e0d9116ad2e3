"""API keys with scopes, revocation and last use; Entra ID tokens checked against a JWKS
served by the test (keys and tokens made here)."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from service.app import create_app
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from tests.api.conftest import Api
from tests.factories import create_api_key, make_settings
from tests.servers import serve_app

TENANT = "11111111-2222-3333-4444-555555555555"
AUDIENCE = "api://lockgate-test"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"


def _key(api: Api, scopes: list[str]) -> str:
    response = api.client.post("/api/v1/keys", json={"name": f"k-{scopes}", "scopes": scopes})
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def _as(api: Api, key: str) -> httpx.Client:
    return httpx.Client(base_url=api.client.base_url, headers={"Authorization": f"Bearer {key}"})


def test_scopes_include_the_ones_below(api: Api) -> None:
    with _as(api, _key(api, ["read"])) as reader, _as(api, _key(api, ["trigger"])) as trigger:
        assert reader.get("/api/v1/runs").status_code == 200
        assert trigger.get("/api/v1/runs").status_code == 200
        refused = reader.post("/api/v1/keys", json={"name": "x", "scopes": ["admin"]})
        assert refused.status_code == 403
        assert refused.json()["detail"] == "this needs the 'admin' scope"
        assert trigger.get("/api/v1/keys").status_code == 403
        # Starting a run needs `trigger`; changing a definition needs `admin`.
        workflow = {
            "name": "wf",
            "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/x"}],
        }
        assert reader.post("/api/v1/workflows", json=workflow).status_code == 403
        assert api.client.post("/api/v1/workflows", json=workflow).status_code == 201
        assert reader.post("/api/v1/workflows/wf/runs", json={}).status_code == 403
        assert trigger.post("/api/v1/workflows/wf/runs", json={}).status_code == 202
        assert trigger.delete("/api/v1/workflows/wf").status_code == 403


def test_keys_are_listed_without_secrets_used_and_revoked(api: Api) -> None:
    key = _key(api, ["read", "read"])
    with _as(api, key) as reader:
        assert reader.get("/api/v1/runs").status_code == 200
        listed = {k["name"]: k for k in api.client.get("/api/v1/keys").json()["items"]}
        mine = listed["k-['read', 'read']"]
        assert mine["scopes"] == ["read"]
        assert mine["last_used_at"] is not None
        assert all("key" not in k and "key_hash" not in k for k in listed.values())
        assert api.client.delete(f"/api/v1/keys/{mine['id']}").status_code == 204
        assert reader.get("/api/v1/runs").status_code == 401
        assert api.client.delete(f"/api/v1/keys/{mine['id']}").status_code == 404


def test_unknown_scope_is_a_422_naming_it(api: Api) -> None:
    response = api.client.post("/api/v1/keys", json={"name": "x", "scopes": ["root"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$.scopes"
    assert "root" in response.json()["errors"][0]["message"]


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    jwk = json.loads(RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "test-key", "use": "sig", "alg": "RS256"}]})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{TENANT}/discovery/v2.0/keys"
    server.shutdown()
    server.server_close()


@pytest.fixture
def entra_api(tmp_path: Path, redis_url: str, redis_prefix: str, jwks_url: str) -> Iterator[str]:
    settings = make_settings(
        tmp_path,
        redis_url=redis_url,
        queue_prefix=redis_prefix,
        entra_tenant_id=TENANT,
        entra_audience=AUDIENCE,
        entra_jwks_url=jwks_url,
    )
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    create_api_key(make_session_factory(engine))
    with serve_app(create_app(settings)) as url:
        yield url
    engine.dispose()


def _token(key: rsa.RSAPrivateKey, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 600, "appid": "app-1"}
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": "test-key"})


@pytest.mark.parametrize(
    ("claims", "runs_status", "keys_status"),
    [
        ({"roles": ["Lockgate.Read"]}, 200, 403),
        ({"roles": ["Lockgate.Admin"]}, 200, 200),
        ({"roles": ["Something.Else"]}, 403, 403),
        ({"roles": ["Lockgate.Admin"], "aud": "api://another-app"}, 401, 401),
        ({"roles": ["Lockgate.Admin"], "iss": "https://evil.example/v2.0"}, 401, 401),
        ({"roles": ["Lockgate.Admin"], "exp": int(time.time()) - 3600}, 401, 401),
    ],
)
def test_entra_tokens_map_roles_to_scopes(
    entra_api: str,
    signing_key: rsa.RSAPrivateKey,
    claims: dict[str, Any],
    runs_status: int,
    keys_status: int,
) -> None:
    headers = {"Authorization": f"Bearer {_token(signing_key, **claims)}"}
    with httpx.Client(base_url=entra_api, headers=headers) as client:
        assert client.get("/api/v1/runs").status_code == runs_status
        assert client.get("/api/v1/keys").status_code == keys_status


def test_a_token_signed_by_another_key_is_refused(entra_api: str) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = _token(stranger, roles=["Lockgate.Admin"])
    response = httpx.get(f"{entra_api}/api/v1/runs", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert token not in response.text

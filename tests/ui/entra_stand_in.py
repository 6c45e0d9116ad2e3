"""A stand-in for Microsoft's sign-in service (one Entra tenant), for the console's Entra
ID sign-in: over TLS, as MSAL requires, with the endpoints a web app's authorization code
flow uses (OpenID configuration, authorize, token, the tenant's signing keys).

Its authorize page shows a "Sign in as ..." button, as Microsoft's page would after the
person has entered their credentials; the button sends the browser back to the app with a
code (or, with ``deny``, an error). The token endpoint checks what Entra checks: the
client secret, the redirect URI the code was issued for, the PKCE verifier, one use per
code. Every token request is recorded in ``token_requests``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.self_signed import write_self_signed
from tests.servers import serve_handler

TENANT = "c0ffee00-0000-4000-8000-000000000001"
CLIENT_ID = "11111111-2222-4333-8444-555555555555"
CLIENT_SECRET = "console-client-secret-do-not-log"


@dataclass
class EntraStandIn:
    url: str
    ca_file: Path
    signing_key: rsa.RSAPrivateKey
    # The person who signs in: claims of their ID token (roles are their app roles).
    person: dict[str, Any] = field(
        default_factory=lambda: {
            "name": "Ada Operator",
            "preferred_username": "ada@contoso.example",
            "oid": "0a0a0a0a-0000-4000-8000-00000000000a",
            "roles": ["Lockgate.Trigger"],
        }
    )
    deny: str | None = None  # an error code the authorize page answers with instead
    id_token_key: rsa.RSAPrivateKey | None = None  # sign ID tokens with another key
    id_token_lifetime: int = 3600
    pending: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> request
    token_requests: list[dict[str, str]] = field(default_factory=list)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    sign_outs: list[dict[str, str]] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return f"{self.url}/{TENANT}/v2.0"

    def settings(self) -> dict[str, Any]:
        """Lockgate settings for a console that signs in here."""
        return {
            "entra_tenant_id": TENANT,
            "entra_audience": "api://lockgate",
            "entra_authority_host": self.url,
            "entra_issuer": self.issuer,
            "console_entra_client_id": CLIENT_ID,
            "console_entra_client_secret": CLIENT_SECRET,
        }

    def answer(self, auth_uri: str) -> str:
        """Where the authorize page sends the browser back to (what clicking its button
        does), for tests without a browser."""
        with httpx.Client(verify=ssl.create_default_context(cafile=self.ca_file)) as client:
            page = client.get(auth_uri)
            assert page.status_code == 200, page.text
            approve = page.text.split('action="', 1)[1].split('"', 1)[0]
            request_id = page.text.split('name="request" value="', 1)[1].split('"', 1)[0]
            back = client.get(f"{self.url}{html.unescape(approve)}", params={"request": request_id})
        assert back.status_code == 302, back.text
        return back.headers["location"]

    # --- what the server does ------------------------------------------------------------

    def _configuration(self) -> dict[str, Any]:
        base = f"{self.url}/{TENANT}"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def _keys(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key()))
        return {"keys": [{**jwk, "kid": "stand-in-key", "use": "sig", "alg": "RS256"}]}

    def _id_token(self, request: dict[str, str]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": request["client_id"],
            "iat": now,
            "nbf": now,
            "exp": now + self.id_token_lifetime,
            "sub": "subject-of-" + self.person.get("oid", "someone"),
            "tid": TENANT,
            "ver": "2.0",
            "nonce": request.get("nonce", ""),
            **self.person,
        }
        key = self.id_token_key or self.signing_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "stand-in-key"})

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            }
        request = self.pending.pop(form.get("code", ""), None)
        if request is None:
            return 400, {
                "error": "invalid_grant",
                "error_description": "AADSTS70008: The authorization code was already used.",
            }
        if form.get("redirect_uri") != request["redirect_uri"]:
            return 400, {
                "error": "invalid_grant",
                "error_description": "AADSTS50011: The redirect URI does not match.",
            }
        verifier = form.get("code_verifier", "").encode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if request.get("code_challenge_method") != "S256" or challenge.decode() != request.get(
            "code_challenge"
        ):
            return 400, {
                "error": "invalid_grant",
                "error_description": "AADSTS501481: The code verifier does not match.",
            }
        client_info = {"uid": self.person.get("oid", "someone"), "utid": TENANT}
        return 200, {
            "token_type": "Bearer",
            "scope": "openid profile offline_access",
            "expires_in": 3600,
            "access_token": "stand-in-access-token",
            "refresh_token": "stand-in-refresh-token",
            "id_token": self._id_token(request),
            "client_info": base64.urlsafe_b64encode(json.dumps(client_info).encode()).decode(),
        }

    def authorize_page(self, query: dict[str, str]) -> str:
        self.authorize_requests.append(query)
        request_id = secrets.token_urlsafe(8)
        self.pending[f"pending:{request_id}"] = query
        who = html.escape(self.person.get("preferred_username", "someone"))
        return (
            "<!doctype html><title>Sign in to your account</title>"
            f'<form method="get" action="/{TENANT}/oauth2/v2.0/approve">'
            f'<input type="hidden" name="request" value="{request_id}">'
            f"<button>Sign in as {who}</button></form>"
        )

    def approve(self, request_id: str) -> str:
        query = self.pending.pop(f"pending:{request_id}")
        back: dict[str, str] = {"state": query.get("state", "")}
        if self.deny:
            back |= {
                "error": self.deny,
                "error_description": "AADSTS65004: User declined to consent <b>now</b>.",
            }
        else:
            code = secrets.token_urlsafe(24)
            self.pending[code] = query
            back["code"] = code
        return f"{query['redirect_uri']}?{urlencode(back)}"


@contextmanager
def serve_entra_stand_in(directory: Path) -> Iterator[EntraStandIn]:
    tls = write_self_signed(directory)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stand_in = EntraStandIn(url="", ca_file=tls.cert, signing_key=key)

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            path = parts.path.removeprefix(f"/{TENANT}")
            if path == "/v2.0/.well-known/openid-configuration":
                self._json(200, stand_in._configuration())
            elif path == "/discovery/v2.0/keys":
                self._json(200, stand_in._keys())
            elif path == "/oauth2/v2.0/authorize":
                self._send(200, stand_in.authorize_page(query).encode(), "text/html")
            elif path == "/oauth2/v2.0/approve":
                self._send(302, b"", "text/plain", Location=stand_in.approve(query["request"]))
            elif path == "/oauth2/v2.0/logout":  # signs the person out, then goes back
                stand_in.sign_outs.append(query)
                self._send(302, b"", "text/plain", Location=query["post_logout_redirect_uri"])
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != f"/{TENANT}/oauth2/v2.0/token":
                self._json(404, {"error": "not_found"})
                return
            self._json(*stand_in.token(form))

        def log_message(self, format: str, *args: object) -> None:
            return

    # "localhost", not the console's 127.0.0.1: another site, as Microsoft's page is.
    with serve_handler(Handler, tls=tls, host_name="localhost") as url:
        stand_in.url = url
        yield stand_in

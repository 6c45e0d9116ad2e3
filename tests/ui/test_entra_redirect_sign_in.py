"""Signing in to the console through Entra ID's sign-in page (OpenID Connect, the
authorization code flow with PKCE), against a stand-in for Microsoft's service."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis
from cryptography.hazmat.primitives.asymmetric import rsa

from service.settings import Settings
from service.ui import _sessions as console_sessions
from tests.ui.conftest import Console
from tests.ui.entra_stand_in import CLIENT_ID, EntraStandIn

CALLBACK = "/ui/sign-in/entra/callback"


@pytest.fixture
def console(make_console: Callable[..., Console], entra: EntraStandIn) -> Console:
    return make_console(**entra.settings())


def _start(client: httpx.Client, next_path: str = "/ui") -> str:
    started = client.get("/ui/sign-in/entra", params={"next": next_path})
    assert started.status_code == 303, started.text
    return started.headers["location"]


def _back(client: httpx.Client, location: str) -> httpx.Response:
    """The browser arriving back at the console from Microsoft's page."""
    parts = urlsplit(location)
    assert parts.path == CALLBACK
    return client.get(f"{parts.path}?{parts.query}")


def test_a_person_signs_in_through_the_tenant_with_their_roles_as_scopes(
    console: Console, entra: EntraStandIn, redis_url: str
) -> None:
    client = console.client()
    page = client.get("/ui/sign-in")
    assert "Sign in with Microsoft" in page.text

    auth_uri = _start(client, "/ui/runs")
    request = {k: v[0] for k, v in parse_qs(urlsplit(auth_uri).query).items()}
    assert auth_uri.startswith(
        f"{entra.url}/{entra.settings()['entra_tenant_id']}/oauth2/v2.0/authorize"
    )
    assert request["client_id"] == CLIENT_ID
    assert request["redirect_uri"] == f"{console.url}{CALLBACK}"
    assert request["response_type"] == "code" and request["response_mode"] == "query"
    assert request["code_challenge_method"] == "S256" and request["code_challenge"]
    assert request["state"] and request["nonce"]
    assert "openid" in request["scope"].split()

    arrived = _back(client, entra.answer(auth_uri))
    assert arrived.status_code == 200, arrived.text
    # Moves on from a page of its own (the session cookie is SameSite=Strict).
    assert 'http-equiv="refresh" content="0; url=/ui/runs"' in arrived.text
    assert "ada@contoso.example" in arrived.text
    [exchange] = entra.token_requests
    assert exchange["grant_type"] == "authorization_code" and exchange["code_verifier"]

    overview = client.get("/ui")
    assert overview.status_code == 200
    assert "ada@contoso.example" in overview.text and "(trigger)" in overview.text

    # The session lasts as long as the ID token (an hour here), not the 12-hour default;
    # Redis holds no Entra token, only the person's name and scopes.
    store = redis.Redis.from_url(redis_url)
    try:
        keys = list(store.scan_iter(f"{console.settings.queue_prefix}:ui:session:*"))
        assert keys and all(0 < store.ttl(k) <= 3600 for k in keys)
        assert not any(b"stand-in" in (store.get(k) or b"") for k in keys)
        assert not list(store.scan_iter(f"{console.settings.queue_prefix}:ui:entra-flow:*"))
    finally:
        store.close()


def test_signing_out_signs_out_at_the_tenant_too(console: Console, entra: EntraStandIn) -> None:
    client = console.client()
    assert _back(client, entra.answer(_start(client))).status_code == 200
    signed_out = console.post_form(client, "/ui", "/ui/sign-out")
    assert signed_out.status_code == 200
    found = re.search(r'http-equiv="refresh" content="0; url=([^"]+)"', signed_out.text)
    assert found, signed_out.text
    logout = urlsplit(html.unescape(found.group(1)))
    assert f"{logout.scheme}://{logout.netloc}" == entra.url
    assert logout.path == f"/{entra.settings()['entra_tenant_id']}/oauth2/v2.0/logout"
    assert parse_qs(logout.query)["post_logout_redirect_uri"] == [f"{console.url}/ui/sign-in"]
    assert client.get("/ui").status_code == 303  # the console's session is gone already

    # A key's session signs out here only.
    keyed = console.signed_in("read")
    assert console.post_form(keyed, "/ui", "/ui/sign-out").headers["location"] == "/ui/sign-in"


def test_an_answer_is_used_once_and_only_in_the_browser_that_asked(
    console: Console, entra: EntraStandIn
) -> None:
    asking = console.client()
    location = entra.answer(_start(asking))
    flow_cookie = asking.cookies["lockgate_console_entra"]
    # Someone else's browser (a link planted in a mail, say) has no flow to finish.
    stranger = console.client()
    refused = _back(stranger, location)
    assert refused.status_code == 400
    assert "not started here" in refused.text
    assert "lockgate_console=" not in refused.headers.get("set-cookie", "")

    assert _back(asking, location).status_code == 200
    # Sent again with the flow's cookie (back button, a replayed request): the flow is gone.
    replaying = console.client()
    replaying.cookies.set("lockgate_console_entra", flow_cookie)
    assert _back(replaying, location).status_code == 400
    assert len(entra.token_requests) == 1


def test_a_tampered_state_is_refused(console: Console, entra: EntraStandIn) -> None:
    client = console.client()
    location = entra.answer(_start(client))
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    query["state"] = "not-the-state-we-sent"
    refused = client.get(CALLBACK, params=query)
    assert refused.status_code == 400
    assert "did not match the request" in refused.text
    assert entra.token_requests == []  # refused before the code was spent
    assert client.get("/ui").status_code == 303  # not signed in


def _replayed_id_token(entra: EntraStandIn) -> None:
    entra.person["nonce"] = "the-nonce-of-some-other-sign-in"


def _no_lockgate_role(entra: EntraStandIn) -> None:
    entra.person["roles"] = ["Payroll.Reader"]


def _signed_by_a_stranger(entra: EntraStandIn) -> None:
    entra.id_token_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _expired(entra: EntraStandIn) -> None:
    entra.id_token_lifetime = -3600


def _declined(entra: EntraStandIn) -> None:
    entra.deny = "access_denied"


@pytest.mark.parametrize(
    ("tamper", "status", "says", "code_spent"),
    [
        (_replayed_id_token, 400, ["did not match the request"], True),
        (_no_lockgate_role, 403, ["has no Lockgate role", "Lockgate.Read"], True),
        (_signed_by_a_stranger, 401, ["ID token was refused"], True),
        (_expired, 401, ["ID token was refused"], True),
        # Microsoft's reason is shown, escaped.
        (_declined, 401, ["User declined to consent &lt;b&gt;now&lt;/b&gt;"], False),
    ],
    ids=["replayed-id-token", "no-role", "signed-by-a-stranger", "expired", "declined"],
)
def test_a_refused_sign_in_says_why_and_leaves_no_session(
    console: Console,
    entra: EntraStandIn,
    tamper: Callable[[EntraStandIn], None],
    status: int,
    says: list[str],
    code_spent: bool,
) -> None:
    tamper(entra)
    client = console.client()
    refused = _back(client, entra.answer(_start(client)))
    assert refused.status_code == status
    for words in says:
        assert words in refused.text
    assert len(entra.token_requests) == (1 if code_spent else 0)
    assert client.get("/ui").status_code == 303


def test_a_wrong_client_secret_is_reported_without_the_secret(
    make_console: Callable[..., Console], entra: EntraStandIn
) -> None:
    console = make_console(**{**entra.settings(), "console_entra_client_secret": "stale-secret"})
    client = console.client()
    refused = _back(client, entra.answer(_start(client)))
    assert refused.status_code == 401
    assert "Invalid client secret" in refused.text and "stale-secret" not in refused.text


def test_an_unreachable_tenant_is_a_503_not_a_crash(
    make_console: Callable[..., Console], entra: EntraStandIn
) -> None:
    console = make_console(**{**entra.settings(), "entra_authority_host": "https://127.0.0.1:9"})
    response = console.client().get("/ui/sign-in/entra")
    assert response.status_code == 503
    assert "did not answer" in response.text


def test_without_an_app_registration_there_is_no_entra_sign_in(
    make_console: Callable[..., Console],
) -> None:
    console = make_console()
    client = console.client()
    assert "Sign in with Microsoft" not in client.get("/ui/sign-in").text
    assert client.get("/ui/sign-in/entra").status_code == 404
    assert client.get(CALLBACK, params={"code": "x", "state": "y"}).status_code == 404


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"console_entra_client_id": CLIENT_ID, "console_entra_client_secret": "s"},
            "LOCKGATE_ENTRA_TENANT_ID",
        ),
        (
            {"console_entra_client_id": CLIENT_ID, "entra_tenant_id": "t", "entra_audience": "a"},
            "LOCKGATE_CONSOLE_ENTRA_CLIENT_SECRET",
        ),
    ],
)
def test_an_incomplete_app_registration_is_refused_at_start(
    tmp_path: Path, values: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]


def test_the_session_ends_with_the_id_token(
    make_console: Callable[..., Console], entra: EntraStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    entra.id_token_lifetime = 60
    console = make_console(**entra.settings())
    client = console.client()
    assert _back(client, entra.answer(_start(client))).status_code == 200
    assert client.get("/ui").status_code == 200
    # The console's clock a minute on (the server runs in this process): past the token.
    later = SimpleNamespace(time=lambda: time.time() + 61)
    monkeypatch.setattr(console_sessions, "time", later)
    assert client.get("/ui").status_code == 303

"""Signing in with an API key: a server-side session behind an HttpOnly, SameSite=Strict
cookie; bad keys, expired forms, sign-out and revoked keys; the CSP on every page."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import update

from service.store.models import ApiKey, utcnow
from service.ui._render import CONTENT_SECURITY_POLICY
from tests.ui.conftest import Console, csrf_of


def _session_cookie_header(response_headers: list[str]) -> str:
    found = [h for h in response_headers if h.startswith("lockgate_console=")]
    assert len(found) == 1, response_headers
    return found[0]


def test_a_key_signs_in_and_the_cookie_is_httponly_strict_and_scoped(console: Console) -> None:
    client = console.client()
    assert client.get("/ui").status_code == 303  # not signed in: off to the sign-in page
    assert client.get("/ui").headers["location"].startswith("/ui/sign-in?next=")
    form = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={"key": console.keys["read"], "csrf_token": csrf_of(form.text), "next": "/ui/runs"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/runs"
    cookie = _session_cookie_header(response.headers.get_list("set-cookie")).lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/ui" in cookie
    assert "secure" not in cookie  # plain http here (see the https test below)
    page = client.get("/ui/runs")
    assert page.status_code == 200
    assert "read-person" in page.text
    # The key itself is never in a cookie or a page.
    assert console.keys["read"] not in str(client.cookies) and console.keys["read"] not in page.text


def test_the_cookie_is_secure_when_the_console_is_served_over_https(
    make_console: Callable[..., Console],
) -> None:
    console = make_console(public_url="https://lockgate.example.com")
    client = console.client()
    token = csrf_of(client.get("/ui/sign-in").text)
    # The login cookie is Secure too, so a client on plain http would not send it back:
    # send it by hand, as a browser on https would.
    response = client.post(
        "/ui/sign-in",
        data={"key": console.keys["admin"], "csrf_token": token},
        headers={"Cookie": f"lockgate_console_login={token}"},
    )
    assert response.status_code == 303, response.text
    assert "secure" in _session_cookie_header(response.headers.get_list("set-cookie")).lower()


def test_a_bad_key_is_refused_with_a_sentence_and_no_session(console: Console) -> None:
    client = console.client()
    form = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={"key": "lg_not-a-key-anyone-was-given", "csrf_token": csrf_of(form.text)},
    )
    assert response.status_code == 401
    assert "That key is unknown or revoked." in response.text
    assert not [
        h for h in response.headers.get_list("set-cookie") if h.startswith("lockgate_console=")
    ]
    assert client.get("/ui").status_code == 303


def test_the_sign_in_form_needs_its_own_token(console: Console) -> None:
    client = console.client()
    client.get("/ui/sign-in")
    forged = client.post(
        "/ui/sign-in", data={"key": console.keys["admin"], "csrf_token": "guessed"}
    )
    assert forged.status_code == 403
    assert client.get("/ui").status_code == 303


def test_next_never_leaves_the_console(console: Console) -> None:
    client = console.client()
    form = client.get("/ui/sign-in")
    response = client.post(
        "/ui/sign-in",
        data={
            "key": console.keys["admin"],
            "csrf_token": csrf_of(form.text),
            "next": "//evil.example/x",
        },
    )
    assert response.headers["location"] == "/ui"


def test_sign_out_ends_the_session_server_side(console: Console) -> None:
    client = console.signed_in("admin")
    stolen = dict(client.cookies)
    assert console.post_form(client, "/ui", "/ui/sign-out").status_code == 303
    assert client.get("/ui").status_code == 303
    # A copy of the old cookie is worth nothing: the session is gone from Redis.
    replay = console.client()
    replay.cookies.update(stolen)
    assert replay.get("/ui").status_code == 303


def test_revoking_the_key_ends_its_sessions_at_once(console: Console) -> None:
    client = console.signed_in("trigger")
    assert client.get("/ui").status_code == 200
    with console.sessions.begin() as session:
        session.execute(
            update(ApiKey).where(ApiKey.name == "trigger-person").values(revoked_at=utcnow())
        )
    assert client.get("/ui").status_code == 303


def test_state_changing_forms_are_refused_without_the_session_token(console: Console) -> None:
    client = console.signed_in("admin")
    for token in (None, "", "not-the-token"):
        data = {} if token is None else {"csrf_token": token}
        response = client.post("/ui/sign-out", data=data)
        assert response.status_code == 403, token
        assert "security token" in response.text
    assert client.get("/ui").status_code == 200  # still signed in: nothing happened
    # Another session's token is not this session's.
    other = console.signed_in("admin")
    foreign = csrf_of(other.get("/ui").text)
    assert client.post("/ui/sign-out", data={"csrf_token": foreign}).status_code == 403


def test_every_page_carries_the_csp_without_inline_scripts(console: Console) -> None:
    client = console.signed_in("admin")
    for path in ("/ui", "/ui/runs", "/ui/events", "/ui/workflows", "/ui/alerts", "/ui/sign-in"):
        response = client.get(path, follow_redirects=True)
        policy = response.headers["content-security-policy"]
        assert policy == CONTENT_SECURITY_POLICY
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        # No inline script or handler in the markup either.
        assert "<script>" not in response.text and " onclick=" not in response.text.lower()
    assert client.get("/ui/static/console.js").status_code == 200
    assert client.get("/ui/static/console.css").status_code == 200

"""Where an Entra tenant is configured, an Entra ID access token signs in too (verified
as the API verifies a bearer token), and the session ends no later than the token."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.api.test_access import AUDIENCE, TENANT, _token, jwks_url, signing_key  # noqa: F401
from tests.ui.conftest import Console, csrf_of


def _sign_in(console: Console, credential: str) -> tuple[int, Console]:
    client = console.client()
    form = client.get("/ui/sign-in")
    assert "Entra ID access token" in form.text
    response = client.post(
        "/ui/sign-in", data={"key": credential, "csrf_token": csrf_of(form.text)}
    )
    return response.status_code, console


def test_an_entra_token_signs_in_with_its_roles_as_scopes(
    make_console: Callable[..., Console],
    signing_key: rsa.RSAPrivateKey,  # noqa: F811
    jwks_url: str,  # noqa: F811
    redis_url: str,
) -> None:
    console = make_console(entra_tenant_id=TENANT, entra_audience=AUDIENCE, entra_jwks_url=jwks_url)
    client = console.client()
    form = client.get("/ui/sign-in")
    token = _token(signing_key, roles=["Lockgate.Trigger"], exp=int(time.time()) + 120)
    signed = client.post("/ui/sign-in", data={"key": token, "csrf_token": csrf_of(form.text)})
    assert signed.status_code == 303, signed.text
    page = client.get("/ui")
    assert page.status_code == 200 and "(trigger)" in page.text
    # The session ends with the token (two minutes), not after the 12-hour default.
    store = redis.Redis.from_url(redis_url)
    try:
        ttls = [
            store.ttl(k) for k in store.scan_iter(f"{console.settings.queue_prefix}:ui:session:*")
        ]
    finally:
        store.close()
    assert ttls and all(0 < ttl <= 120 for ttl in ttls)


def test_entra_tokens_without_a_role_or_expired_are_refused(
    make_console: Callable[..., Console],
    signing_key: rsa.RSAPrivateKey,  # noqa: F811
    jwks_url: str,  # noqa: F811
) -> None:
    console = make_console(entra_tenant_id=TENANT, entra_audience=AUDIENCE, entra_jwks_url=jwks_url)
    no_role, _ = _sign_in(console, _token(signing_key, roles=["Something.Else"]))
    assert no_role == 403
    expired, _ = _sign_in(
        console, _token(signing_key, roles=["Lockgate.Admin"], exp=int(time.time()) - 3600)
    )
    assert expired == 401
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged, _ = _sign_in(console, _token(other_key, roles=["Lockgate.Admin"]))
    assert forged == 401

"""Subscription links: signed, purpose-bound, confirmations expire, and production refuses
the development secret."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from service.alerts import (
    OptInUnavailable,
    TokenExpired,
    TokenInvalid,
    confirm_url,
    unsubscribe_url,
)
from service.alerts._optin_tokens import make_token, read_token
from service.settings import Settings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        subscription_secret="test-subscription-secret",
        public_url="https://lockgate.example.com/",
    )


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def test_a_confirm_link_round_trips_until_it_expires(settings: Settings) -> None:
    url = confirm_url(settings, subscription_id="sub1", nonce="n0nce", expires_at=NOW)
    assert url.startswith("https://lockgate.example.com/ui/subscriptions/confirm?token=")
    claims = read_token(settings, _token(url), purpose="confirm", now=NOW - timedelta(seconds=1))
    assert (claims.subscription_id, claims.nonce, claims.expires_at) == ("sub1", "n0nce", NOW)
    with pytest.raises(TokenExpired):
        read_token(settings, _token(url), purpose="confirm", now=NOW)


def test_an_unsubscribe_link_never_expires_and_never_confirms(settings: Settings) -> None:
    token = _token(unsubscribe_url(settings, subscription_id="sub1"))
    far_future = NOW + timedelta(days=3650)
    assert read_token(settings, token, purpose="unsubscribe", now=far_future).subscription_id == (
        "sub1"
    )
    with pytest.raises(TokenInvalid, match="not a confirm link"):
        read_token(settings, token, purpose="confirm", now=NOW)


def _reencoded(token: str, **changes: object) -> str:
    body, _, signature = token.partition(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims.update(changes)
    raw = json.dumps(claims, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + signature


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: _reencoded(t, s="someone-else"), id="other subscription"),
        pytest.param(lambda t: _reencoded(t, e=2_000_000_000), id="later expiry"),
        pytest.param(lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"), id="signature"),
        pytest.param(lambda t: t.partition(".")[0], id="no signature"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "é." + t, id="not ascii"),
        pytest.param(lambda t: t + "x" * 2000, id="too long"),
    ],
)
def test_a_tampered_link_is_refused(settings: Settings, tamper: object) -> None:
    token = make_token(
        settings,
        purpose="confirm",
        subscription_id="sub1",
        nonce="n",
        expires_at=NOW + timedelta(hours=1),
    )
    assert callable(tamper)
    with pytest.raises(TokenInvalid) as caught:
        read_token(settings, tamper(token), purpose="confirm", now=NOW)
    assert not isinstance(caught.value, TokenExpired)


def test_another_secret_makes_every_link_invalid(settings: Settings, tmp_path: Path) -> None:
    token = make_token(settings, purpose="unsubscribe", subscription_id="sub1")
    other = Settings(data_dir=tmp_path, subscription_secret="a-different-secret")
    with pytest.raises(TokenInvalid, match="signature"):
        read_token(other, token, purpose="unsubscribe", now=NOW)


def test_production_refuses_links_signed_with_the_development_secret(tmp_path: Path) -> None:
    production = Settings(
        data_dir=tmp_path,
        environment="production",
        alert_signing_secret="not-the-development-one",
        databricks_host="https://adb-1.azuredatabricks.net",
    )
    with pytest.raises(OptInUnavailable, match="LOCKGATE_SUBSCRIPTION_SECRET"):
        unsubscribe_url(production, subscription_id="sub1")
    development = Settings(data_dir=tmp_path)
    token = make_token(development, purpose="unsubscribe", subscription_id="sub1")
    with pytest.raises(OptInUnavailable):
        read_token(production, token, purpose="unsubscribe", now=NOW)
    configured = production.model_copy(update={"subscription_secret": SecretStr("s3cret")})
    assert unsubscribe_url(configured, subscription_id="sub1")

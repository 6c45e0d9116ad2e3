"""Signed links for self-service subscriptions: confirm one, or unsubscribe from one.

A token is ``<claims>.<signature>``, both base64url: the claims are compact JSON naming
the purpose (``confirm`` or ``unsubscribe``), the subscription id, and for a confirmation
its nonce and expiry (Unix seconds). The signature is HMAC-SHA256 over the claims with
``settings.subscription_secret``, compared in constant time. The purpose is signed, so
an unsubscribe token can never confirm and a confirm token never unsubscribes.

Unsubscribe tokens do not expire: RFC 8058 links sit in mailboxes for years and must
still work. They name one subscription, which is deleted by using it, so a leaked link
can do nothing worse than what it is for. Confirmation tokens expire, and their nonce is
also stored on the subscription, so a link works once and a newer request voids it.

``confirm_url`` and ``unsubscribe_url`` put a token into an absolute link to the console
(``settings.lockgate_base_url``); mail clients need absolute links.

Errors: ``TokenInvalid`` (malformed, tampered, wrong purpose), its subclass
``TokenExpired``, and ``OptInUnavailable`` when production runs on the development
secret (anyone could forge links with it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from service.settings import Settings

Purpose = Literal["confirm", "unsubscribe"]

CONFIRM_PATH = "/ui/subscriptions/confirm"
UNSUBSCRIBE_PATH = "/ui/unsubscribe"
_DEVELOPMENT_PREFIX = "lockgate-development"
# Far longer than any token we make: refuses junk before decoding it.
_MAX_TOKEN_CHARS = 1000


class TokenInvalid(Exception):
    """The link was not made by this Lockgate for this purpose (or was altered)."""


class TokenExpired(TokenInvalid):
    """A confirmation link older than ``subscription_confirm_seconds``."""


class OptInUnavailable(Exception):
    """Production with the development ``subscription_secret``: no links are made or read."""


@dataclass(frozen=True)
class TokenClaims:
    purpose: Purpose
    subscription_id: str
    nonce: str | None = None
    expires_at: datetime | None = None


def unsubscribe_url(settings: Settings, *, subscription_id: str) -> str:
    token = make_token(settings, purpose="unsubscribe", subscription_id=subscription_id)
    return f"{_base(settings)}{UNSUBSCRIBE_PATH}?token={token}"


def confirm_url(
    settings: Settings, *, subscription_id: str, nonce: str, expires_at: datetime
) -> str:
    token = make_token(
        settings,
        purpose="confirm",
        subscription_id=subscription_id,
        nonce=nonce,
        expires_at=expires_at,
    )
    return f"{_base(settings)}{CONFIRM_PATH}?token={token}"


def _base(settings: Settings) -> str:
    return settings.lockgate_base_url.rstrip("/")


def make_token(
    settings: Settings,
    *,
    purpose: Purpose,
    subscription_id: str,
    nonce: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    claims: dict[str, str | int] = {"p": purpose, "s": subscription_id}
    if nonce is not None:
        claims["n"] = nonce
    if expires_at is not None:
        claims["e"] = int(expires_at.timestamp())
    body = _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64encode(_sign(settings, body))}"


def read_token(settings: Settings, token: str, *, purpose: Purpose, now: datetime) -> TokenClaims:
    """The claims of a genuine, unexpired token made for ``purpose``; else ``TokenInvalid``."""
    _key(settings)  # raises OptInUnavailable before anything is read
    body, dot, signature = token.strip().partition(".")
    if not dot or len(token) > _MAX_TOKEN_CHARS:
        raise TokenInvalid("the link is incomplete")
    try:
        given = _b64decode(signature)
    except (binascii.Error, ValueError) as exc:
        raise TokenInvalid("the link is damaged") from exc
    # Check the signature before parsing anything the sender wrote.
    if not hmac.compare_digest(given, _sign(settings, body)):
        raise TokenInvalid("the link's signature does not match")
    try:
        claims = json.loads(_b64decode(body))
        subscription_id = str(claims["s"])
        expires = claims.get("e")
        nonce = claims.get("n")
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise TokenInvalid("the link is damaged") from exc
    if claims.get("p") != purpose:
        raise TokenInvalid(f"this is not a {purpose} link")
    expires_at = datetime.fromtimestamp(expires, UTC) if isinstance(expires, int) else None
    if purpose == "confirm" and expires_at is None:
        raise TokenInvalid("a confirmation link must expire")
    if expires_at is not None and now >= expires_at:
        raise TokenExpired("the link has expired")
    return TokenClaims(
        purpose=purpose,
        subscription_id=subscription_id,
        nonce=str(nonce) if nonce is not None else None,
        expires_at=expires_at,
    )


def _sign(settings: Settings, body: str) -> bytes:
    return hmac.new(_key(settings), body.encode("ascii"), hashlib.sha256).digest()


def _key(settings: Settings) -> bytes:
    secret = settings.subscription_secret.get_secret_value()
    if settings.environment == "production" and secret.startswith(_DEVELOPMENT_PREFIX):
        raise OptInUnavailable("set LOCKGATE_SUBSCRIPTION_SECRET for subscription links")
    # Domain-separate from any other use the same secret might be put to.
    return hmac.new(secret.encode(), b"lockgate subscription links v1", hashlib.sha256).digest()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not ASCII")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""Verifying inbound webhooks: ``POST /hooks/{name}``.

Three schemes, chosen per hook:

- ``lockgate`` (default): ``X-Lockgate-Signature: sha256=<hex HMAC-SHA256(secret,
  f"{timestamp}.{raw body}")>`` with ``X-Lockgate-Timestamp`` in unix seconds. Signing
  the timestamp with the body and refusing stale timestamps stops replays.
- ``github``: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>``, as
  GitHub (and many senders copying it) sign. There is no timestamp, so a captured request
  can be replayed; the sender's delivery id (``X-GitHub-Delivery``) is the dedupe key
  that makes a replay start nothing.
- ``token``: the secret itself, in ``Authorization: Bearer``, ``X-Lockgate-Token`` or
  ``?token=``, for senders that can do nothing else. Anyone who sees one request can
  forge others: use it only over TLS and only where HMAC is impossible.

During a secret rotation a hook has several active secrets; a request signed with any of
them is accepted. Every comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Literal

from service.triggers.hook_payload import (
    ParameterMappingError,
    extract_parameters,
    is_valid_path,
)

SIGNATURE_HEADER = "X-Lockgate-Signature"
TIMESTAMP_HEADER = "X-Lockgate-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
GITHUB_SIGNATURE_HEADER = "X-Hub-Signature-256"
TOKEN_HEADER = "X-Lockgate-Token"
# Delivery ids senders put on every request; the first present one is the dedupe key.
DELIVERY_ID_HEADERS = (IDEMPOTENCY_HEADER, "X-GitHub-Delivery", "webhook-id", "X-Delivery-Id")

Verification = Literal["lockgate", "github", "token"]
VERIFICATIONS: tuple[Verification, ...] = ("lockgate", "github", "token")

__all__ = [
    "DELIVERY_ID_HEADERS",
    "GITHUB_SIGNATURE_HEADER",
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOKEN_HEADER",
    "VERIFICATIONS",
    "InvalidSignature",
    "ParameterMappingError",
    "extract_parameters",
    "is_valid_path",
    "sign",
    "sign_github",
    "verify",
    "verify_request",
]


class InvalidSignature(Exception):
    """The request is not from a holder of the hook's secret, or is too old to trust."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def sign_github(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(
    *,
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: int,
) -> None:
    """Lockgate's own scheme with one secret."""
    _verify_lockgate([secret], timestamp, signature, body, now, tolerance_seconds)


def verify_request(
    *,
    verification: str,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    now: float,
    tolerance_seconds: int,
) -> str:
    """Checks a request against any of the hook's active secrets; returns the signature
    text (the fallback dedupe key when the sender gives no delivery id)."""
    if verification == "github":
        signature = headers.get(GITHUB_SIGNATURE_HEADER)
        if not signature:
            raise InvalidSignature(f"missing {GITHUB_SIGNATURE_HEADER} header")
        if not any(_same(sign_github(s, body), signature.strip()) for s in secrets):
            raise InvalidSignature("signature does not match")
        return signature.strip()
    if verification == "token":
        token = _presented_token(headers, query)
        if not token:
            raise InvalidSignature(
                f"missing token: send 'Authorization: Bearer <token>' or {TOKEN_HEADER}"
            )
        if not any(_same(s, token) for s in secrets):
            raise InvalidSignature("token does not match")
        # The token is the same on every request: it cannot tell deliveries apart.
        return ""
    timestamp = headers.get(TIMESTAMP_HEADER)
    signature = headers.get(SIGNATURE_HEADER)
    _verify_lockgate(secrets, timestamp, signature, body, now, tolerance_seconds)
    return (signature or "").strip()


def _verify_lockgate(
    secrets: Sequence[str],
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: int,
) -> None:
    if not timestamp or not signature:
        raise InvalidSignature(f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    try:
        sent_at = int(timestamp)
    except ValueError as exc:
        raise InvalidSignature(f"{TIMESTAMP_HEADER} must be unix seconds") from exc
    if abs(now - sent_at) > tolerance_seconds:
        raise InvalidSignature(f"timestamp is more than {tolerance_seconds} s from now")
    presented = signature.strip()
    if not any(_same(sign(s, timestamp, body), presented) for s in secrets):
        raise InvalidSignature("signature does not match")


def _presented_token(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    scheme, _, value = headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get(TOKEN_HEADER) or query.get("token")


def _same(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected.encode(), presented.encode())

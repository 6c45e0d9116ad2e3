"""Standard Webhooks signatures for outgoing alert webhooks.

The signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``; the signature header
is ``v1,<base64 HMAC-SHA256>``. A secret written as ``whsec_<base64>`` (the Standard
Webhooks convention) is base64-decoded into the HMAC key; any other secret is used as its
UTF-8 bytes. So a receiver using a Standard Webhooks library verifies our signatures with
``"whsec_" + base64(secret)``, or with ``verify_signature`` below and the plain secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

SIGNATURE_VERSION = "v1"
_SECRET_PREFIX = "whsec_"


def sign_payload(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """Return the ``webhook-signature`` header value for one message."""
    digest = hmac.new(_key(secret), _signed_content(msg_id, timestamp, body), hashlib.sha256)
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest.digest()).decode('ascii')}"


def verify_signature(
    secret: str,
    msg_id: str,
    timestamp: str | int,
    body: bytes | str,
    signature_header: str,
    *,
    tolerance_seconds: float = 300,
    now: float | None = None,
) -> bool:
    """True if one of the space-separated ``v1,...`` signatures matches and the timestamp
    is within ``tolerance_seconds`` of ``now`` (default: the current time).

    The tolerance window is what stops a captured request from being replayed later.
    """
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance_seconds:
        return False
    expected = sign_payload(secret, msg_id, sent_at, body).encode("ascii")
    # Several signatures appear while a receiver rotates secrets; any match is enough.
    candidates = (part for part in signature_header.split(" ") if part)
    return any(
        hmac.compare_digest(expected, candidate.encode("ascii", "replace"))
        for candidate in candidates
    )


def _key(secret: str) -> bytes:
    if secret.startswith(_SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(_SECRET_PREFIX) :], validate=True)
        except binascii.Error as exc:
            # Never echo the secret itself in the message.
            raise ValueError("a whsec_ signing secret must be base64 after the prefix") from exc
    return secret.encode("utf-8")


def _signed_content(msg_id: str, timestamp: int, body: bytes | str) -> bytes:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return f"{msg_id}.{timestamp}.".encode() + raw

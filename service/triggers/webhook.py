"""Signed inbound webhooks: ``POST /hooks/{name}``.

Signature: ``X-Lockgate-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{raw body}")>``
with ``X-Lockgate-Timestamp`` in unix seconds. Signing the timestamp with the body and
refusing stale timestamps stops replays; the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

SIGNATURE_HEADER = "X-Lockgate-Signature"
TIMESTAMP_HEADER = "X-Lockgate-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"

_PATH = re.compile(r"^\$(\.[A-Za-z0-9_\-]+|\[\d+\])*$")
_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]")


class InvalidSignature(Exception):
    """The request is not from a holder of the hook's secret, or is too old to trust."""


class ParameterMappingError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify(
    *,
    secret: str,
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
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip()):
        raise InvalidSignature("signature does not match")


def is_valid_path(path: str) -> bool:
    return bool(_PATH.match(path))


def extract_parameters(mapping: Mapping[str, str], body: Any) -> dict[str, str]:
    """Maps body fields to run parameters: ``{"run_date": "$.data.date"}``.

    A missing field is an error naming its path, not a silently empty parameter.
    """
    parameters: dict[str, str] = {}
    for name, path in mapping.items():
        value = body
        for match in _STEP.finditer(path):
            key, index = match.groups()
            if key is not None and isinstance(value, dict) and key in value:
                value = value[key]
            elif index is not None and isinstance(value, list) and int(index) < len(value):
                value = value[int(index)]
            else:
                raise ParameterMappingError(
                    path, f"the body has no value at {path} (needed for parameter {name!r})"
                )
        if isinstance(value, dict | list):
            raise ParameterMappingError(path, f"{path} is an object or array, not a value")
        parameters[name] = (
            "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        )
    return parameters

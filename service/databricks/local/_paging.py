"""Opaque page tokens: what kind of list they page, and where the next page starts."""

from __future__ import annotations

import base64
import json

from ._errors import invalid_parameter

ARRAY_PAGE_SIZE = 100  # jobs/get and runs/get return at most 100 tasks per response


def encode_page_token(kind: str, position: int) -> str:
    raw = json.dumps({"k": kind, "p": position}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str | None, kind: str) -> int | None:
    """The position a token points at, or None for no token; a 400 for a foreign token."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data["k"] != kind or not isinstance(data["p"], int) or data["p"] < 0:
            raise ValueError(token)
        return int(data["p"])
    except (ValueError, KeyError, TypeError):
        raise invalid_parameter(f"invalid page_token {token!r}") from None

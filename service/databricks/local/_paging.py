"""Opaque page tokens (what kind of list they page, and where a page starts), and the
100-item pages of the arrays in jobs/get and runs/get (API 2.2)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from ._errors import invalid_parameter


def encode_page_token(kind: str, position: int) -> str:
    raw = json.dumps({"k": kind, "p": position}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str | None, kind: str) -> int | None:
    """The position a token points at, or None for no token; a 400 for a foreign token."""
    found = decode_page_token_of(token, (kind,))
    return None if found is None else found[1]


def decode_page_token_of(token: str | None, kinds: Sequence[str]) -> tuple[str, int] | None:
    """(kind, position) of a token that may be any of ``kinds`` (next or previous page)."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if data["k"] not in kinds or not isinstance(data["p"], int) or data["p"] < 0:
            raise ValueError(token)
        return str(data["k"]), int(data["p"])
    except (ValueError, KeyError, TypeError):
        raise invalid_parameter(f"invalid page_token {token!r}") from None


def page_arrays(
    container: dict[str, Any], names: Sequence[str], *, offset: int, size: int | None
) -> bool:
    """Cut each named array of ``container`` to items ``[offset, offset + size)``.

    One token pages every array together: page N holds the N-th hundred of each, and an
    array already exhausted is left out of later pages. ``size`` None (API 2.1) keeps
    everything. Returns whether any array has items past this page.
    """
    if size is None:
        return False
    more = False
    for name in names:
        items = container.get(name)
        if not isinstance(items, list):
            continue
        more |= offset + size < len(items)
        page = items[offset : offset + size]
        if page or offset == 0:
            container[name] = page
        else:
            del container[name]
    return more

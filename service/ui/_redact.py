"""Payloads as the console shows them: secrets masked.

A trigger event's payload is what the sender posted; senders put tokens and passwords
in bodies often enough. Values under keys named like secrets (the same names the log
scrubber masks: token, secret, password, authorization, signature, api_key) are
replaced, at any depth, and every secret Lockgate itself is configured with is scrubbed
from the text wherever it appears (``service.logging_config.SecretScrubber``). The API
returns payloads as stored; only the console masks them.
"""

from __future__ import annotations

import re
from typing import Any

from service.logging_config import MASK, SecretScrubber, configured_secrets
from service.settings import Settings

SECRET_KEY = re.compile(
    r"token|secret|password|passwd|authorization|signature|api_?key|credential", re.I
)
MAX_DEPTH = 64


def redact(value: Any, scrubber: SecretScrubber, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return MASK
    if isinstance(value, dict):
        return {
            key: MASK if SECRET_KEY.search(str(key)) else redact(item, scrubber, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact(item, scrubber, depth + 1) for item in value]
    if isinstance(value, str):
        return scrubber.scrub(value)
    return value


def redacted_payload(payload: Any, settings: Settings) -> Any:
    return redact(payload, SecretScrubber(configured_secrets(settings)))

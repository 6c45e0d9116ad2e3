"""API keys: shown once, stored as a SHA-256 hash (keys are long random strings, so a
fast hash is enough; nothing to brute-force)."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "lg_"


def new_api_key() -> tuple[str, str, str]:
    """Returns (plaintext, display prefix, hash)."""
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    return plaintext, plaintext[:10], hash_api_key(plaintext)


def hash_api_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()

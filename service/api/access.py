"""Who is calling and what they may do.

Three scopes, each including the one before: ``read`` (see workflows, runs, events),
``trigger`` (also start runs: manual runs, replays, cancel), ``admin`` (also change
definitions, hooks, channels and keys). A principal comes from an API key or, where a
tenant is configured, an Entra ID token whose app roles map to scopes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Scope = Literal["read", "trigger", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "trigger", "admin")
_RANK: dict[str, int] = {scope: rank for rank, scope in enumerate(SCOPES)}


@dataclass(frozen=True)
class Principal:
    kind: Literal["api_key", "entra"]
    name: str
    scopes: frozenset[str]
    key_id: str | None = None

    def allows(self, needed: Scope) -> bool:
        return any(_RANK.get(scope, -1) >= _RANK[needed] for scope in self.scopes)


def normalise_scopes(scopes: Iterable[str]) -> list[str]:
    """Known scopes only, in a stable order; raises ValueError naming an unknown one."""
    given = set(scopes)
    unknown = sorted(given - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}; use read, trigger or admin")
    return [scope for scope in SCOPES if scope in given]

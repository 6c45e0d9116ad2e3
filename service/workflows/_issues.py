"""What a workflow definition can be told about itself: issues with a JSON path.

``WorkflowInvalid`` carries every error found, not the first, so one round trip shows a
person the whole list; the API turns it into problem+json with these paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# A location inside the document, as pydantic spells it: keys and list indices.
Loc = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SpecIssue:
    path: str  # JSON path such as "$.tasks[2].depends_on[0]"
    message: str


class WorkflowInvalid(Exception):
    """The document is not a valid workflow; ``errors`` lists every problem found."""

    def __init__(self, errors: Sequence[SpecIssue]) -> None:
        self.errors: list[SpecIssue] = list(errors)
        lines = "; ".join(f"{issue.path}: {issue.message}" for issue in self.errors)
        super().__init__(f"invalid workflow: {lines}" if lines else "invalid workflow")


def format_path(loc: Iterable[str | int]) -> str:
    """``("tasks", 2, "depends_on", 0)`` -> ``$.tasks[2].depends_on[0]``.

    Keys that are not plain identifiers (``cost-center``, ``spark.sql.x``) use bracket
    notation so the path stays unambiguous.
    """
    parts = ["$"]
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif _PLAIN_KEY.match(part):
            parts.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"['{escaped}']")
    return "".join(parts)


def issue(loc: Loc, message: str) -> SpecIssue:
    return SpecIssue(path=format_path(loc), message=message)


def describe_value(value: object) -> str:
    """Names a value's JSON type for messages ("a list", "null"), since users write JSON/YAML."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def sorted_by_path(issues: list[SpecIssue]) -> list[SpecIssue]:
    """Sorted by path, list indices compared as numbers (tasks[2] before tasks[10]), so
    each task's problems stay together and the order is stable; repeats are dropped."""

    def key(found: SpecIssue) -> list[tuple[int, int | str]]:
        return [
            (0, int(part)) if part.isdigit() else (1, part)
            for part in re.split(r"(\d+)", found.path)
        ]

    return sorted(dict.fromkeys(issues), key=key)

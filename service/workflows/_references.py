"""Rewriting the seed's legacy dynamic value references to today's names.

``{{job.start_time}}`` without an argument is rejected by Databricks (the namespace needs
an argument such as ``iso_date``), and ``{{start_date}}`` is a deprecated legacy name.
Both are rewritten to the closest current reference, with a warning so the author can
write it that way.
"""

from __future__ import annotations

import re

_REWRITES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    (
        re.compile(r"\{\{\s*job\.start_time\s*\}\}"),
        "{{job.start_time.iso_datetime}}",
        "`{{job.start_time}}` needs an argument in Databricks; "
        "using `{{job.start_time.iso_datetime}}` (write `.iso_date` for the day only)",
    ),
    (
        re.compile(r"\{\{\s*start_date\s*\}\}"),
        "{{job.start_time.iso_date}}",
        "`{{start_date}}` is a legacy reference; using `{{job.start_time.iso_date}}`",
    ),
)


def rewrite_legacy_references(text: str) -> tuple[str, list[str]]:
    """Returns the rewritten text and one note per kind of reference replaced."""
    notes: list[str] = []
    for pattern, replacement, note in _REWRITES:
        text, count = pattern.subn(replacement, text)
        if count:
            notes.append(note)
    return text, notes

"""Dynamic value references in SQL text, lifted into ``sql_task.parameters``.

Databricks resolves references in task settings, never inside a query or a SQL file
(the text is the asset, not a setting). The seed guide writes them into its inline SQL
(``WHERE transaction_date = '{{start_date}}'``), so sent as it is the statement would
compare against the literal text. Each reference becomes a SQL task parameter holding it
(``start_date: {{job.start_time.iso_date}}``), which Databricks does resolve, and the
text keeps a ``{{name}}`` parameter marker for that parameter; the local backend's SQL
runner fills those markers from the task's parameters.

A marker is named after what it replaces: a legacy name keeps its own (``start_date``),
any other reference its dotted name with ``_`` (``{{job.run_id}}`` -> ``job_run_id``).
A plain ``{{name}}`` outside Databricks' namespaces is already a marker (a job parameter
fills it) and is left alone.
"""

from __future__ import annotations

import re

from service.workflows.references import (
    LEGACY_REPLACEMENTS,
    NAMESPACES,
    Reference,
    find_references,
    rewrite_legacy_references,
)

_NOT_WORD = re.compile(r"\W+")


def lift_references(text: str) -> tuple[str, dict[str, str], list[str]]:
    """(text with markers, the SQL task parameters, one note per reference lifted)."""
    pieces: list[str] = []
    position = 0
    parameters: dict[str, str] = {}
    notes: dict[str, str] = {}
    for reference in find_references(text):
        written = text[reference.start : reference.end]
        legacy = LEGACY_REPLACEMENTS.get(reference.name)
        if legacy is None and reference.segments[0] not in NAMESPACES:
            continue
        value = "{{" + (legacy or written[2:-2].strip()) + "}}"
        marker = _marker(reference, value, parameters)
        parameters[marker] = value
        pieces += [text[position : reference.start], "{{" + marker + "}}"]
        position = reference.end
        if legacy is not None:
            _, legacy_notes = rewrite_legacy_references(written)
            notes.setdefault("legacy:" + reference.name, legacy_notes[0])
        notes.setdefault(
            marker,
            f"`{written}` would not be resolved inside SQL text; it is passed as the SQL "
            f"task parameter `{marker}` (`{value}`) and the text reads `{{{{{marker}}}}}`",
        )
    pieces.append(text[position:])
    return "".join(pieces), parameters, list(notes.values())


def _marker(reference: Reference, value: str, taken: dict[str, str]) -> str:
    """A ``\\w+`` name for the marker, unique unless it stands for the same value."""
    base = _NOT_WORD.sub("_", reference.name).strip("_") or "reference"
    name, suffix = base, 2
    while taken.get(name, value) != value:
        name, suffix = f"{base}_{suffix}", suffix + 1
    return name

"""Checks that read a document generically: unknown keys (warned about, with a "did you
mean"), and every string searched for dynamic value references.

References are checked in every string of a task, not in a list of known parameter
fields, because Databricks resolves them in most string fields (parameters, condition
operands, for-each inputs, SQL parameters) and the list keeps growing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from service.workflows._issues import Loc, SpecIssue, issue
from service.workflows.references import (
    LEGACY_REPLACEMENTS,
    check_references,
    find_references,
    rewrite_legacy_references,
)


def model_keys(model: type[BaseModel]) -> set[str]:
    """The keys a model reads, spelled as in documents (aliases, e.g. dbt's ``schema``)."""
    return {info.alias or name for name, info in model.model_fields.items()}


def unknown_keys(
    value: Mapping[Any, Any],
    loc: Loc,
    model: type[BaseModel],
    *,
    extra_known: Iterable[str] = (),
) -> list[SpecIssue]:
    known = model_keys(model) | set(extra_known)
    return [
        issue(
            (*loc, str(key)),
            f"unknown key {key!r} is kept but not checked" + suggestion(str(key), known),
        )
        for key in value
        if key not in known
    ]


def suggestion(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(candidates), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_strings(
    value: Any,
    loc: Loc,
    *,
    task_keys: frozenset[str] | None,
    job_parameters: frozenset[str] | None,
    for_each_key: str | None = None,
) -> tuple[list[SpecIssue], list[SpecIssue]]:
    """(errors, warnings) for the references in every string under ``value``. Legacy names
    are not reported here: the rewrite that replaces them says so."""
    errors: list[SpecIssue] = []
    warnings: list[SpecIssue] = []
    for at, text, in_for_each in _strings(value, loc, for_each_key, inside=False):
        for finding in check_references(
            text, task_keys=task_keys, job_parameters=job_parameters, in_for_each=in_for_each
        ):
            name = finding.reference.strip("{} ")
            if name in LEGACY_REPLACEMENTS:
                continue
            (errors if finding.error else warnings).append(issue(at, finding.message))
    return errors, warnings


def rewrite_strings(value: Any, loc: Loc) -> tuple[Any, list[SpecIssue]]:
    """A copy of ``value`` with legacy references replaced, and a warning for each place."""
    warnings: list[SpecIssue] = []

    def walk(item: Any, at: Loc) -> Any:
        if isinstance(item, str):
            if "{{" not in item or not any(find_references(item)):
                return item
            rewritten, notes = rewrite_legacy_references(item)
            warnings.extend(issue(at, note) for note in notes)
            return rewritten
        if isinstance(item, dict):
            return {key: walk(child, (*at, str(key))) for key, child in item.items()}
        if isinstance(item, list):
            return [walk(child, (*at, position)) for position, child in enumerate(item)]
        return item

    return walk(value, loc), warnings


def _strings(
    value: Any, loc: Loc, for_each_key: str | None, *, inside: bool
) -> Iterable[tuple[Loc, str, bool]]:
    if isinstance(value, str):
        if "{{" in value:
            yield loc, value, inside
    elif isinstance(value, dict):
        for key, child in value.items():
            nested = inside or (
                for_each_key is not None and loc[-1:] == (for_each_key,) and key == "task"
            )
            yield from _strings(child, (*loc, str(key)), for_each_key, inside=nested)
    elif isinstance(value, list):
        for position, child in enumerate(value):
            yield from _strings(child, (*loc, position), for_each_key, inside=inside)

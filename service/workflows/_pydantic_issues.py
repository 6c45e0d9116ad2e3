"""Running pydantic at a place in the document and turning its errors into sentences.

Pydantic's own messages ("Input should be a valid integer") name neither the field nor
what to write instead; the table below does both, with the JSON path alongside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from service.workflows._issues import Loc, SpecIssue, describe_value, issue

T = TypeVar("T")

# Custom errors raised by our own validators carry this type; their text is already a
# sentence meant for people.
LOCKGATE_ERROR = "lockgate"

_EXPECTED_BY_ERROR_TYPE = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping of names to values",
    "list_type": "a list",
    "model_type": "a mapping of keys to values",
    "model_attributes_type": "a mapping of keys to values",
}


def validate_at(
    adapter: TypeAdapter[T],
    value: Any,
    loc: Loc,
    *,
    missing_hints: Mapping[str, str] | None = None,
) -> tuple[T, list[SpecIssue]] | tuple[None, list[SpecIssue]]:
    """Validates ``value`` found at ``loc``; returns the result or the issues, never raises.

    ``missing_hints`` finishes the sentence for a required key ("`type` is required: one
    of notebook, python, ...").
    """
    try:
        return adapter.validate_python(value, strict=True), []
    except ValidationError as exc:
        hints = missing_hints or {}
        return None, [_issue(loc, err, hints) for err in exc.errors()]


def _issue(loc: Loc, err: ErrorDetails, missing_hints: Mapping[str, str]) -> SpecIssue:
    where = tuple(err["loc"])
    if where[-1:] == ("[key]",):
        # A mapping key of the wrong type (YAML reads `1:` or `yes:` as a number or
        # boolean): the path is the mapping, the message names the key.
        key = where[-2]
        return issue(loc + where[:-2], f"the key {key!r} {_sentence(err, missing_hints)}")
    return issue(loc + where, _sentence(err, missing_hints))


def _sentence(err: ErrorDetails, missing_hints: Mapping[str, str]) -> str:
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    field = err["loc"][-1] if err["loc"] else None
    if kind == LOCKGATE_ERROR:
        return err["msg"]
    if kind == "missing":
        if not isinstance(field, str):
            return "a value is required"
        hint = missing_hints.get(field)
        return f"`{field}` is required: {hint}" if hint else f"`{field}` is required"
    if kind in _EXPECTED_BY_ERROR_TYPE:
        expected = _EXPECTED_BY_ERROR_TYPE[kind]
        return f"must be {expected}, not {describe_value(err['input'])}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}, not {err['input']!r}"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        relation = "at least" if kind == "greater_than_equal" else "more than"
        return f"must be {relation} {bound}, not {err['input']!r}"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        relation = "at most" if kind == "less_than_equal" else "less than"
        return f"must be {relation} {bound}, not {err['input']!r}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    return str(err["msg"])


def custom_error(message: str) -> PydanticCustomError:
    """An error for our own validators to raise; ``message`` reaches the user as written."""
    # The message goes through the context so braces in it ("{{job.id}}") stay literal.
    return PydanticCustomError(LOCKGATE_ERROR, "{message}", {"message": message})

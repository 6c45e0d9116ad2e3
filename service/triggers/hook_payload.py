"""What a webhook says: its body (JSON or form), the run parameters a hook maps out of it,
and whether the hook's filters let it start anything.

A source is a JSON path into the body (``$.data.date``, ``$.items[0].id``), a request
header (``header:X-Event``) or a query parameter (``query:env``). Values become text the
way Databricks job parameters are text (``true``/``false`` for booleans).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

_PATH = re.compile(r"^\$(\.[A-Za-z0-9_\-]+|\[\d+\])*$")
_STEP = re.compile(r"\.([A-Za-z0-9_\-]+)|\[(\d+)\]")
_HEADER = re.compile(r"^header:[A-Za-z0-9\-_]{1,100}$")
_QUERY = re.compile(r"^query:[A-Za-z0-9\-_.]{1,100}$")

FORM = "application/x-www-form-urlencoded"
_MISSING = object()


class ParameterMappingError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class UnreadableBody(ValueError):
    """The body is not in the content type it claims (or one Lockgate reads)."""


@dataclass(frozen=True)
class HookRequest:
    body: Any
    headers: Mapping[str, str]  # lower-cased names
    query: Mapping[str, str]


def is_valid_path(path: str) -> bool:
    return bool(_PATH.match(path))


def is_valid_source(source: str) -> bool:
    return bool(_PATH.match(source) or _HEADER.match(source) or _QUERY.match(source))


def parse_body(raw: bytes, content_type: str | None) -> Any:
    """JSON (the default, and any ``+json`` type) or an HTML form. A form whose only
    field is ``payload`` holding JSON is read as that JSON, as GitHub sends it."""
    media = (content_type or "application/json").split(";")[0].strip().lower()
    if media == FORM:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableBody(f"the form is not UTF-8: {exc}") from exc
        fields = parse_qs(text, keep_blank_values=True)
        form: dict[str, Any] = {k: v[0] if len(v) == 1 else v for k, v in fields.items()}
        if set(form) == {"payload"} and isinstance(form["payload"], str):
            try:
                return json.loads(form["payload"])
            except ValueError:
                return form
        return form
    if media == "application/json" or media.endswith("+json") or media == "text/plain":
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise UnreadableBody(f"the body is not JSON: {exc}") from exc
    raise UnreadableBody(f"content type {media!r} is not read; send JSON or a form ({FORM})")


def extract_parameters(mapping: Mapping[str, str], body: Any) -> dict[str, str]:
    """Maps body fields to run parameters: ``{"run_date": "$.data.date"}``.

    A missing field is an error naming its path, not a silently empty parameter.
    """
    return map_parameters(mapping, HookRequest(body=body, headers={}, query={}))


def map_parameters(mapping: Mapping[str, str], request: HookRequest) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, source in mapping.items():
        value = lookup(source, request)
        if value is _MISSING:
            raise ParameterMappingError(
                source, f"the request has no value at {source} (needed for parameter {name!r})"
            )
        if isinstance(value, dict | list):
            raise ParameterMappingError(source, f"{source} is an object or array, not a value")
        parameters[name] = as_text(value)
    return parameters


def lookup(source: str, request: HookRequest) -> Any:
    """The value at a source, or the module's missing marker."""
    if source.startswith("header:"):
        return request.headers.get(source[7:].lower(), _MISSING)
    if source.startswith("query:"):
        return request.query.get(source[6:], _MISSING)
    value = request.body
    for match in _STEP.finditer(source):
        key, index = match.groups()
        if key is not None and isinstance(value, dict) and key in value:
            value = value[key]
        elif index is not None and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return _MISSING
    return value


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def filter_problems(filters: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(JSON path in the hook document, message) for each malformed filter."""
    problems: list[tuple[str, str]] = []
    for position, rule in enumerate(filters):
        where = f"$.filters[{position}]"
        source = rule.get("path")
        if not isinstance(source, str) or not is_valid_source(source):
            problems.append(
                (f"{where}.path", "use $.body.path, header:Name or query:name to say what to test")
            )
        tests = [key for key in ("equals", "one_of", "exists") if key in rule]
        if len(tests) != 1:
            problems.append((where, "give exactly one of equals, one_of or exists"))
        elif tests == ["one_of"] and not isinstance(rule["one_of"], list):
            problems.append((f"{where}.one_of", "must be a list of values"))
        unknown = set(rule) - {"path", "equals", "one_of", "exists"}
        if unknown:
            problems.append((where, f"unknown keys: {', '.join(sorted(unknown))}"))
    return problems


def first_unmet_filter(filters: Sequence[Mapping[str, Any]], request: HookRequest) -> str | None:
    """None when every filter matches, else a sentence saying which one did not."""
    for rule in filters:
        source = str(rule.get("path"))
        value = lookup(source, request)
        present = value is not _MISSING and not isinstance(value, dict | list)
        if "exists" in rule:
            if bool(rule["exists"]) != (value is not _MISSING):
                wanted = "present" if rule["exists"] else "absent"
                return f"{source} is not {wanted}"
            continue
        if not present:
            return f"{source} is missing"
        text = as_text(value)
        if "equals" in rule and text != as_text(rule["equals"]):
            return f"{source} is {text!r}, not {as_text(rule['equals'])!r}"
        if "one_of" in rule and text not in {as_text(v) for v in rule["one_of"]}:
            return f"{source} is {text!r}, not one of the listed values"
    return None

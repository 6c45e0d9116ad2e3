"""Reading a workflow document from JSON or YAML text.

Both formats load into the same plain dict, so everything after this module is format
blind. YAML is read with the safe loader minus its timestamp rule: ``2024-01-01`` stays
the text the user wrote (a notebook parameter), instead of becoming a ``date`` that the
store cannot serialise.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from service.workflows._issues import SpecIssue, WorkflowInvalid, describe_value

# Guards against YAML alias bombs ("billion laughs") and self-referencing aliases: the
# loaded structure is walked once and refused past this many values.
MAX_DOCUMENT_VALUES = 200_000

_JSON_TYPES = ("json",)
_YAML_TYPES = ("yaml", "yml")

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _WorkflowYamlLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """Safe YAML without implicit timestamps (dates stay text)."""


_WorkflowYamlLoader.yaml_implicit_resolvers = {
    first_char: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first_char, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def load_document(raw: bytes | str, *, content_type: str | None = None) -> dict[str, Any]:
    """Parses JSON or YAML (chosen by ``content_type``, else by the first character).

    Malformed text raises ``WorkflowInvalid`` with path ``$`` and the parser's line and
    column, so the sender can find the mistake.
    """
    text = _decode(raw)
    if not text.strip():
        raise _invalid("the document is empty; send a workflow as JSON or YAML")
    document = _parse_json(text) if _is_json(content_type, text) else _parse_yaml(text)
    if not isinstance(document, dict):
        raise _invalid(
            "the document must be a mapping of keys to values at the top "
            f"(name, tasks, ...), not {describe_value(document)}"
        )
    _check_size(document)
    return document


def _decode(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _invalid(f"the document is not UTF-8 text (bad byte at offset {exc.start})") from exc


def _is_json(content_type: str | None, text: str) -> bool:
    if content_type:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if any(marker in media_type for marker in _JSON_TYPES):
            return True
        if any(marker in media_type for marker in _YAML_TYPES):
            return False
    # Unknown or generic type (text/plain, octet-stream): JSON documents open with a brace
    # or bracket; YAML that starts that way is flow style and is valid JSON-ish anyway.
    return text.lstrip()[:1] in ("{", "[")


def _parse_json(text: str) -> Any:
    def refuse_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"the document is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    except ValueError as exc:
        raise _invalid(f"the document is not valid JSON: {exc}") from exc


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_WorkflowYamlLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = exc.problem or exc.context or "unreadable YAML"
        raise _invalid(f"the document is not valid YAML: {where}{what}") from exc
    except yaml.YAMLError as exc:
        raise _invalid(f"the document is not valid YAML: {exc}") from exc


def _check_size(document: dict[str, Any]) -> None:
    pending: list[Any] = [document]
    seen = 0
    while pending:
        value = pending.pop()
        seen += 1
        if seen > MAX_DOCUMENT_VALUES:
            raise _invalid(
                f"the document holds more than {MAX_DOCUMENT_VALUES} values "
                "(with YAML aliases expanded); split it or remove repeated aliases"
            )
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


def _invalid(message: str) -> WorkflowInvalid:
    return WorkflowInvalid([SpecIssue(path="$", message=message)])

"""Typed reads of JSON request fields, failing with the Jobs API's 400 errors.

Every getter names the field by its path (``tasks[2].max_retries``), so a client sees
which value was wrong, as the Jobs API's own messages do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._errors import invalid_parameter

JsonObject = dict[str, Any]


def as_object(value: Any, where: str) -> JsonObject:
    if not isinstance(value, dict):
        raise invalid_parameter(f"{where} must be a JSON object")
    return value


def get_object(obj: Mapping[str, Any], key: str, where: str) -> JsonObject | None:
    value = obj.get(key)
    if value is None:
        return None
    return as_object(value, _path(where, key))


def get_list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_parameter(f"{_path(where, key)} must be a JSON array")
    return value


def get_str(obj: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise invalid_parameter(f"{_path(where, key)} is required")
        return None
    if not isinstance(value, str):
        raise invalid_parameter(f"{_path(where, key)} must be a string")
    return value


def require_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = get_str(obj, key, where, required=True)
    assert value is not None
    return value


def get_int(
    obj: Mapping[str, Any],
    key: str,
    where: str,
    *,
    default: int,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    value = obj.get(key)
    if value is None:
        return default
    # Protobuf JSON, which the Jobs API speaks, also accepts 64-bit integers as strings.
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    # bool is an int subclass; a JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_parameter(f"{_path(where, key)} must be an integer")
    if minimum is not None and value < minimum:
        raise invalid_parameter(f"{_path(where, key)} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise invalid_parameter(f"{_path(where, key)} must be at most {maximum}, got {value}")
    return value


def get_bool(obj: Mapping[str, Any], key: str, where: str, *, default: bool) -> bool:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise invalid_parameter(f"{_path(where, key)} must be true or false")
    return value


def get_str_map(obj: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    value = obj.get(key)
    if value is None:
        return {}
    mapping = as_object(value, _path(where, key))
    for name, item in mapping.items():
        if not isinstance(item, str):
            raise invalid_parameter(f"{_path(where, key)}.{name} must be a string")
    return dict(mapping)


def get_str_list(obj: Mapping[str, Any], key: str, where: str) -> list[str]:
    items = get_list(obj, key, where)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise invalid_parameter(f"{_path(where, key)}[{index}] must be a string")
    return list(items)


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key

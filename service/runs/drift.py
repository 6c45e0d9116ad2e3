"""Drift: the job at Databricks no longer says what Lockgate deployed (someone edited it in
the workspace). Only what Lockgate sets is compared — Databricks adds defaults of its own
(``format``, ``run_as``, empty notification blocks), which are not drift. Lists of tasks
and job clusters are matched by key, so a reordering is not drift either."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEYED_LISTS = {"tasks": "task_key", "job_clusters": "job_cluster_key", "parameters": "name"}


@dataclass(frozen=True)
class Drift:
    path: str
    expected: Any
    actual: Any


def settings_drift(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[Drift]:
    found: list[Drift] = []
    _compare(expected, actual, "$", found)
    return found


def _compare(expected: Any, actual: Any, path: str, found: list[Drift]) -> None:
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            found.append(Drift(path, expected, actual))
            return
        for key, value in expected.items():
            if _is_keyed_list(key, value):
                _compare_keyed(value, actual.get(key), f"{path}.{key}", _KEYED_LISTS[key], found)
            elif key not in actual:
                found.append(Drift(f"{path}.{key}", value, None))
            else:
                _compare(value, actual[key], f"{path}.{key}", found)
    elif expected != actual:
        found.append(Drift(path, expected, actual))


def _is_keyed_list(key: str, value: Any) -> bool:
    item_key = _KEYED_LISTS.get(key)
    return (
        item_key is not None
        and isinstance(value, list)
        and all(isinstance(item, Mapping) and item_key in item for item in value)
    )


def _compare_keyed(
    expected: list[Any], actual: Any, path: str, key: str, found: list[Drift]
) -> None:
    theirs = {item.get(key): item for item in actual or [] if isinstance(item, Mapping)}
    ours = {item.get(key) for item in expected if isinstance(item, Mapping)}
    for item in expected:
        name = item.get(key) if isinstance(item, Mapping) else None
        if name not in theirs:
            found.append(Drift(f"{path}[{key}={name}]", item, None))
        else:
            _compare(item, theirs[name], f"{path}[{key}={name}]", found)
    for name, item in theirs.items():
        if name not in ours:
            found.append(Drift(f"{path}[{key}={name}]", None, item))

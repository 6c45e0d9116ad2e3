"""Builders for workflow documents: small valid defaults that each test overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

Document = dict[str, Any]


def notebook(task_key: str, **overrides: Any) -> dict[str, Any]:
    return {
        "task_key": task_key,
        "type": "notebook",
        "notebook_path": f"/Shared/{task_key}",
        **overrides,
    }


def workflow(*tasks: dict[str, Any], **overrides: Any) -> Document:
    return {"name": "orders-daily", "tasks": list(tasks) or [notebook("extract")], **overrides}


@pytest.fixture
def fixture_bytes() -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        return (FIXTURES / name).read_bytes()

    return read

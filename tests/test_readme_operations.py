"""The README's configuration table lists every setting, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

from service.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def _table_rows() -> list[str]:
    text = README.read_text()
    section = text.split("### Configuration", 1)[1].split("\n### ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| `LOCKGATE_")]


def _documented() -> tuple[set[str], set[str]]:
    """(every variable a row names, the full names rows spell out). A row may add
    siblings by suffix: `LOCKGATE_SMTP_USERNAME` / `_PASSWORD` names LOCKGATE_SMTP_PASSWORD."""
    named: set[str] = set()
    firsts: set[str] = set()
    for row in _table_rows():
        cell = row.split("|")[1]
        fulls = re.findall(r"`(LOCKGATE_[A-Z0-9_]+)`", cell)
        assert fulls, row
        firsts.update(fulls)
        named.update(fulls)
        parts = fulls[0].split("_")
        for suffix in re.findall(r"`(_[A-Z0-9_]+)`", cell):
            named.update("_".join(parts[:i]) + suffix for i in range(2, len(parts)))
    return named, firsts


def test_every_setting_has_a_row() -> None:
    named, _ = _documented()
    missing = [
        f"LOCKGATE_{name.upper()}"
        for name in Settings.model_fields
        if f"LOCKGATE_{name.upper()}" not in named
    ]
    assert not missing, f"add these to the README's configuration table: {missing}"


def test_every_row_is_a_setting() -> None:
    _, firsts = _documented()
    known = {f"LOCKGATE_{name.upper()}" for name in Settings.model_fields}
    assert firsts <= known, sorted(firsts - known)

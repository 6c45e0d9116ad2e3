"""Pointing a validation error's JSON path at a line of the text a person pasted.

The validator speaks JSON paths (``$.tasks[2].depends_on[0]``, ``$.tags['cost-center']``).
The pasted text is composed once more with PyYAML (JSON is YAML's flow style, so the
same composer reads both) and the path is walked over the node tree, whose marks carry
line numbers. A path into something absent (a missing key) points at the nearest
existing parent: the mapping the key should be added to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['((?:[^'\\]|\\.)*)'\]")


@dataclass(frozen=True)
class PointedIssue:
    path: str
    message: str
    line: int | None  # 1-based
    text: str  # that line of the draft


def path_steps(path: str) -> list[str | int] | None:
    """``$.a[2]['b-c']`` -> ``["a", 2, "b-c"]``; None when the path is not one."""
    if not path.startswith("$"):
        return None
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            return steps  # a suffix we do not read: point at what we could
        name, index, quoted = match.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(quoted.replace("\\'", "'").replace("\\\\", "\\"))
        position = match.end()
    return steps


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def line_of(root: yaml.Node | None, path: str) -> int | None:
    """The 1-based line where ``path`` is written (or its nearest existing parent)."""
    steps = path_steps(path)
    if root is None or steps is None:
        return None
    node: yaml.Node = root
    key_line = root.start_mark.line
    for step in steps:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == step:
                    # A scalar value sits on its key's line; a block sits below it. Point
                    # at the key either way, unless the walk continues inside.
                    child = value
                    key_line = key.start_mark.line
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(step, int)
            and 0 <= step < len(node.value)
        ):
            child = node.value[step]
            key_line = child.start_mark.line
        if child is None:
            return key_line + 1  # where the parent is written
        node = child
    return key_line + 1


def point_issues(text: str, issues: list[tuple[str, str]]) -> list[PointedIssue]:
    """Each (path, message) with the line it points at. A parse error's message already
    names its line (``line 4, column 3``), which is used when the text cannot be read."""
    root = _compose(text)
    lines = text.splitlines()
    pointed = []
    for path, message in issues:
        line = line_of(root, path)
        if line is None:
            found = re.search(r"line (\d+)", message)
            line = int(found.group(1)) if found else None
        snippet = lines[line - 1] if line is not None and 0 < line <= len(lines) else ""
        pointed.append(PointedIssue(path, message, line, snippet))
    return pointed

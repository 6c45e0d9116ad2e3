"""The draft editor's errors point at the line of the pasted text where the problem is,
in YAML and in JSON, and parse errors at the parser's line."""

from __future__ import annotations

import json
import re

import pytest

from service.ui._spec_lines import line_of, path_steps, point_issues
from tests.ui.conftest import Console

YAML_DRAFT = """\
name: broken
tasks:
  - task_key: a
    type: notebook
    notebook_path: /Shared/a
  - task_key: b
    type: notebook
    depends_on:
      - nope
"""


def _issues(html: str) -> list[tuple[int, str, str]]:
    return [
        (int(line), path, text)
        for line, path, text in re.findall(
            r'<a href="#spec">line (\d+)</a> · <code>([^<]+)</code>: ([^<]+)', html
        )
    ]


def test_a_yaml_draft_gets_errors_pointing_at_lines(console: Console) -> None:
    client = console.signed_in("read")
    response = console.post_form(
        client, "/ui/workflows-draft", "/ui/workflows-draft", {"spec": YAML_DRAFT}
    )
    assert response.status_code == 422
    found = {path: line for line, path, _ in _issues(response.text)}
    assert found["$.tasks[1].depends_on[0]"] == 9  # "      - nope"
    assert found["$.tasks[1].notebook_path"] == 6  # missing: the task that lacks it
    assert '<span class="issue-line">9 |       - nope</span>' in response.text
    assert "- nope" in response.text  # the draft is kept in the editor


def test_a_json_draft_points_at_its_own_lines(console: Console) -> None:
    document = {
        "name": "broken",
        "tasks": [
            {"task_key": "a", "type": "notebook", "notebook_path": "/Shared/a"},
            {
                "task_key": "b",
                "type": "notebook",
                "notebook_path": "/Shared/b",
                "depends_on": ["nope"],
            },
        ],
    }
    text = json.dumps(document, indent=2)
    client = console.signed_in("read")
    response = console.post_form(
        client, "/ui/workflows-draft", "/ui/workflows-draft", {"spec": text}
    )
    assert response.status_code == 422
    ((line, path, _),) = _issues(response.text)
    assert path == "$.tasks[1].depends_on[0]"
    assert text.splitlines()[line - 1].strip() == '"nope"'


def test_a_parse_error_points_at_the_parser_line_and_a_valid_draft_says_so(
    console: Console,
) -> None:
    client = console.signed_in("read")
    broken = console.post_form(
        client,
        "/ui/workflows-draft",
        "/ui/workflows-draft",
        {"spec": '{"name": "x",\n "tasks": [}'},
    )
    assert broken.status_code == 422
    assert _issues(broken.text)[0][0] == 2
    valid = console.post_form(
        client,
        "/ui/workflows-draft",
        "/ui/workflows-draft",
        {
            "spec": YAML_DRAFT.replace("      - nope", "      - a").replace(
                "    depends_on:", "    notebook_path: /b\n    depends_on:"
            )
        },
    )
    assert valid.status_code == 200
    assert "Valid: broken." in valid.text


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$", []),
        ("$.tasks[2].depends_on[0]", ["tasks", 2, "depends_on", 0]),
        ("$.tags['cost-center']", ["tags", "cost-center"]),
        ("$.a['it\\'s'].b", ["a", "it's", "b"]),
        ("tasks", None),
    ],
)
def test_json_paths_read_as_steps(path: str, steps: list[object] | None) -> None:
    assert path_steps(path) == steps


def test_a_missing_key_points_at_its_parent_and_a_quoted_key_at_itself() -> None:
    text = "name: x\ntags:\n  cost-center: '1'\ntasks:\n  - task_key: a\n"
    import yaml

    root = yaml.compose(text)
    assert line_of(root, "$.tags['cost-center']") == 3
    assert line_of(root, "$.tasks[0].notebook_path") == 5
    assert line_of(root, "$.tasks[7]") == 4
    assert point_issues(text, [("$.tasks[0]", "m")])[0].text == "  - task_key: a"

"""load_document: JSON or YAML text in, a dict out, or a located parse error."""

from __future__ import annotations

import pytest

from service.workflows import WorkflowInvalid, load_document


def _error(raw: bytes | str, content_type: str | None = None) -> str:
    with pytest.raises(WorkflowInvalid) as caught:
        load_document(raw, content_type=content_type)
    (error,) = caught.value.errors
    assert error.path == "$"
    return error.message


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b'{"name": "wf", "tasks": []}', "application/json"),
        (b'{"name": "wf", "tasks": []}', "application/json; charset=utf-8"),
        (b'{"name": "wf", "tasks": []}', None),
        (b"name: wf\ntasks: []\n", "application/yaml"),
        (b"name: wf\ntasks: []\n", "text/x-yaml"),
        (b"name: wf\ntasks: []\n", None),
        (b"name: wf\ntasks: []\n", "text/plain"),
        ("\ufeffname: wf\ntasks: []\n".encode(), None),
        ("name: wf\ntasks: []\n", None),
    ],
)
def test_json_and_yaml_load_to_the_same_dict(raw: bytes | str, content_type: str | None) -> None:
    assert load_document(raw, content_type=content_type) == {"name": "wf", "tasks": []}


def test_malformed_json_names_line_and_column() -> None:
    message = _error(b'{\n  "name": "wf",\n  "tasks": [,]\n}', "application/json")

    assert message.startswith("the document is not valid JSON: line 3, column 13")


def test_malformed_yaml_names_line_and_column() -> None:
    message = _error(b"name: wf\ntasks:\n  - task_key: a\n   type: notebook\n")

    assert message.startswith("the document is not valid YAML: line 4, column")


def test_content_type_decides_over_sniffing() -> None:
    # YAML text declared as JSON is a JSON error, not silently read as YAML.
    message = _error(b"name: wf\n", "application/json")

    assert "not valid JSON: line 1, column 1" in message


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "the document is empty"),
        (b"  \n", "the document is empty"),
        (b"- a\n- b\n", "must be a mapping of keys to values at the top"),
        (b'"just text"', "not text"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        (b'{"timeout_seconds": NaN}', "NaN is not a JSON number"),
    ],
)
def test_unusable_documents_are_refused(raw: bytes, fragment: str) -> None:
    assert fragment in _error(raw)


def test_yaml_dates_stay_text() -> None:
    document = load_document(b"tasks:\n  - parameters:\n      run_date: 2024-01-01\n")

    assert document["tasks"][0]["parameters"]["run_date"] == "2024-01-01"


def test_yaml_alias_bombs_are_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level, name in enumerate("bcdefg"):
        previous = "abcdefg"[level]
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")

    assert "more than 200000 values" in _error("\n".join(lines))

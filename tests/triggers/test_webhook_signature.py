from __future__ import annotations

import pytest

from service.triggers.webhook import (
    InvalidSignature,
    ParameterMappingError,
    extract_parameters,
    is_valid_path,
    sign,
    verify,
)

SECRET = "s3cret-s3cret-s3cret"
BODY = b'{"date": "2026-11-25"}'


def _verify(**overrides: object) -> None:
    args: dict[str, object] = dict(
        secret=SECRET,
        timestamp="1000",
        signature=sign(SECRET, "1000", BODY),
        body=BODY,
        now=1000.0,
        tolerance_seconds=300,
    )
    args.update(overrides)
    verify(**args)  # type: ignore[arg-type]


def test_a_correct_signature_verifies() -> None:
    _verify()
    _verify(now=1299.0)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"signature": None}, "missing"),
        ({"timestamp": None}, "missing"),
        ({"timestamp": "soon"}, "unix seconds"),
        ({"now": 1301.0}, "from now"),
        ({"now": 699.0}, "from now"),
        ({"body": BODY + b" "}, "does not match"),
        ({"secret": "another-secret-value"}, "does not match"),
        ({"signature": "sha256=" + "0" * 64}, "does not match"),
    ],
)
def test_a_wrong_or_stale_signature_is_refused(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidSignature, match=reason):
        _verify(**overrides)


def test_the_timestamp_is_part_of_what_is_signed() -> None:
    with pytest.raises(InvalidSignature, match="does not match"):
        _verify(timestamp="1001", now=1001.0)


def test_parameters_are_taken_from_body_paths() -> None:
    body = {"data": {"date": "2026-11-25", "n": 3, "ok": True}, "items": [{"id": "x"}]}
    mapping = {"d": "$.data.date", "n": "$.data.n", "ok": "$.data.ok", "first": "$.items[0].id"}
    assert extract_parameters(mapping, body) == {
        "d": "2026-11-25",
        "n": "3",
        "ok": "true",
        "first": "x",
    }


@pytest.mark.parametrize("path", ["$.missing", "$.data.nope", "$.items[3].id"])
def test_a_missing_field_names_its_path(path: str) -> None:
    with pytest.raises(ParameterMappingError) as error:
        extract_parameters({"p": path}, {"data": {}, "items": []})
    assert error.value.path == path


def test_an_object_is_not_a_parameter_value() -> None:
    with pytest.raises(ParameterMappingError, match="object or array"):
        extract_parameters({"p": "$.data"}, {"data": {"a": 1}})


@pytest.mark.parametrize(
    ("path", "valid"), [("$.a.b", True), ("$.a[0].b-c", True), ("a.b", False), ("$..a", False)]
)
def test_path_syntax(path: str, valid: bool) -> None:
    assert is_valid_path(path) is valid

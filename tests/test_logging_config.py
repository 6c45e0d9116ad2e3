"""Logs carry ids as fields and never the secrets Lockgate was configured with."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from service.logging_config import configure_logging
from tests.factories import make_settings

PLANTED = {
    "databricks_token": "dapi-planted-token-0123456789",
    "smtp_password": "planted-smtp-password-42",
    "alert_signing_secret": "planted-signing-secret-xyz",
}


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_everything() -> None:
    log = logging.getLogger("service.test")
    log.info("calling with %s", PLANTED["databricks_token"], extra={"run_id": "r-1"})
    log.warning("bad password %s", PLANTED["smtp_password"], extra={"api_token": "t"})
    try:
        raise RuntimeError(f"boom {PLANTED['alert_signing_secret']}")
    except RuntimeError:
        log.exception("failed")


def test_json_logs_have_fields_and_no_secrets(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    configure_logging(settings=make_settings(tmp_path, log_format="json", **PLANTED))
    _log_everything()
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert [line["level"] for line in lines] == ["info", "warning", "error"]
    assert lines[0]["run_id"] == "r-1" and lines[0]["logger"] == "service.test"
    assert lines[1]["api_token"] == "***"
    assert "RuntimeError" in lines[2]["exception"]
    for secret in PLANTED.values():
        assert secret not in err


def test_plain_logs_are_scrubbed_too(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging(settings=make_settings(tmp_path, **PLANTED))
    _log_everything()
    err = capfd.readouterr().err
    assert "calling with ***" in err
    for secret in PLANTED.values():
        assert secret not in err

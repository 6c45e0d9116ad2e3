"""Attaching Lockgate's hint destination to job settings, and the credentials it posts."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.runs.hints import (
    HINT_USERNAME,
    hint_credentials_valid,
    hint_password,
    poll_interval,
    with_hint_destination,
)
from service.settings import Settings


def test_the_destination_joins_the_users_own_on_the_ending_events() -> None:
    job = {"name": "j", "webhook_notifications": {"on_failure": [{"id": "theirs"}]}}
    attached = with_hint_destination(job, "ours")
    assert attached["webhook_notifications"] == {
        "on_failure": [{"id": "theirs"}, {"id": "ours"}],
        "on_success": [{"id": "ours"}],
    }
    assert job["webhook_notifications"] == {"on_failure": [{"id": "theirs"}]}  # not mutated
    assert with_hint_destination(attached, "ours") == attached  # once only


def test_an_event_at_databricks_limit_of_three_is_left_alone() -> None:
    full = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    attached = with_hint_destination({"webhook_notifications": {"on_success": full}}, "ours")
    assert attached["webhook_notifications"]["on_success"] == full
    assert attached["webhook_notifications"]["on_failure"] == [{"id": "ours"}]


def test_credentials_are_per_workspace_and_off_without_a_secret(tmp_path: Path) -> None:
    on = Settings(data_dir=tmp_path, databricks_hint_secret="s" * 32)  # type: ignore[arg-type]
    password = hint_password(on, "default")
    assert hint_credentials_valid(on, "default", HINT_USERNAME, password)
    assert not hint_credentials_valid(on, "other", HINT_USERNAME, password)
    assert not hint_credentials_valid(on, "default", "someone", password)
    off = Settings(data_dir=tmp_path)
    assert not hint_credentials_valid(off, "default", HINT_USERNAME, password)
    with pytest.raises(ValueError):
        hint_password(off, "default")


def test_polling_slows_to_a_safety_net_while_hints_are_on(tmp_path: Path) -> None:
    assert poll_interval(Settings(data_dir=tmp_path, poll_interval_seconds=5)) == 5
    hinted = Settings(
        data_dir=tmp_path,
        poll_interval_seconds=5,
        hinted_poll_interval_seconds=30,
        databricks_hint_secret="s" * 32,  # type: ignore[arg-type]
    )
    assert poll_interval(hinted) == 30

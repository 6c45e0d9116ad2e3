"""`lockgate channels|alerts|hooks|events ...` against a real API server over HTTP."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from service.commands import alerts as alerts_commands
from service.commands import triggers as trigger_commands
from tests.api.conftest import Api
from tests.factories import simple_workflow
from tests.servers import http_receiver


@pytest.fixture
def cli(api: Api, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("LOCKGATE_API_URL", str(api.client.base_url))
    monkeypatch.setenv("LOCKGATE_API_KEY", api.client.headers["Authorization"].split(" ", 1)[1])
    app = typer.Typer()
    alerts_commands.register(app)
    trigger_commands.register(app)
    return app


def _ok(cli: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_channels_subscribe_test_alert_and_unsubscribe(cli: typer.Typer, api: Api) -> None:
    with http_receiver() as receiver:
        _ok(cli, "channels", "create", "etl-failures")
        made = json.loads(
            _ok(
                cli,
                "channels",
                "subscribe",
                "etl-failures",
                "--webhook",
                receiver.url,
                "--event",
                "run.failed",
                "--tag",
                "team=data",
            )
        )
        listed = json.loads(_ok(cli, "channels", "list"))
        assert [c["name"] for c in listed["channels"]] == ["etl-failures"]
        _ok(cli, "channels", "test", "etl-failures")
        alerts = json.loads(_ok(cli, "alerts", "list"))
        assert len(alerts["alerts"]) == 1
        shown = json.loads(_ok(cli, "alerts", "show", alerts["alerts"][0]["id"]))
        assert shown["channel"] == "webhook" and shown["target"] == receiver.url
        _ok(cli, "channels", "unsubscribe", "etl-failures", made["id"])
        channel = api.client.get("/api/v1/channels/etl-failures").json()
        assert channel["subscriptions"] == []


def test_subscribe_to_databricks_jobs_by_id_name_and_tag(cli: typer.Typer, api: Api) -> None:
    _ok(cli, "channels", "create", "finance")
    made = json.loads(
        _ok(
            cli,
            "channels",
            "subscribe",
            "finance",
            "--email",
            "finance@example.com",
            "--job",
            "123",
            "--job",
            "billing-export",
            "--job-tag",
            "team=finance",
            "--job-tag",
            "tier=*",
        )
    )
    assert made["jobs"] == ["123", "billing-export"]
    assert made["job_tags"] == {"team": "finance", "tier": "*"}
    assert (made["workflows"], made["workflow_tags"]) == ([], {})
    [channel] = json.loads(_ok(cli, "channels", "list"))["channels"]
    assert channel["subscriptions"] == [made]
    result = CliRunner().invoke(
        cli, ["channels", "subscribe", "finance", "--email", "a@b.example", "--job-tag", "team"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == "lockgate: --job-tag 'team' is not KEY=VALUE"


def test_a_bad_subscription_is_one_line_and_exit_1(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["channels", "subscribe", "nope", "--email", "a@b.example"])
    assert result.exit_code == 1
    assert result.stderr.startswith("lockgate: ")


def test_hooks_and_events_commands(cli: typer.Typer, api: Api) -> None:
    assert api.client.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 201
    created = json.loads(_ok(cli, "hooks", "create", "orders", "--workflow", "etl"))
    assert created["secret"]
    assert [h["name"] for h in json.loads(_ok(cli, "hooks", "list"))["items"]] == ["orders"]
    started = api.client.post("/api/v1/workflows/etl/runs", json={})
    assert started.status_code == 202
    events = json.loads(_ok(cli, "events", "list"))
    assert started.json()["event_id"] in [e["id"] for e in events["items"]]

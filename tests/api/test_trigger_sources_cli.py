"""`lockgate schedules|file-watches|expectations ...` against a real API server over HTTP."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from service.commands import triggers as trigger_commands
from service.triggers.blob_locations import parse_location
from tests.api.conftest import Api
from tests.factories import simple_workflow

WATCHED = "https://lgacct.blob.core.windows.net/landing/in/"


@pytest.fixture
def cli(api: Api, monkeypatch: pytest.MonkeyPatch) -> typer.Typer:
    monkeypatch.setenv("LOCKGATE_API_URL", str(api.client.base_url))
    monkeypatch.setenv("LOCKGATE_API_KEY", api.client.headers["Authorization"].split(" ", 1)[1])
    app = typer.Typer()
    trigger_commands.register(app)
    return app


def _ok(cli: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _fails(cli: typer.Typer, *args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("lockgate: ")
    return result.stderr


def test_schedules_pause_and_unpause(cli: typer.Typer, api: Api) -> None:
    nightly = simple_workflow("nightly", schedule={"cron": "0 0 2 * * ?", "timezone": "UTC"})
    assert api.client.post("/api/v1/workflows", json=nightly).status_code == 201
    paused = json.loads(_ok(cli, "schedules", "pause", "nightly"))
    assert paused["paused"] is True and paused["paused_by_operator"] is True
    listed = json.loads(_ok(cli, "schedules", "list"))["items"]
    assert [(s["workflow"], s["paused"]) for s in listed] == [("nightly", True)]
    unpaused = json.loads(_ok(cli, "schedules", "unpause", "nightly"))
    assert unpaused["paused"] is False and unpaused["next_fire_at"] is not None
    assert "no workflow" in _fails(cli, "schedules", "pause", "missing")
    assert api.client.post("/api/v1/workflows", json=simple_workflow("plain")).status_code == 201
    assert "has no schedule" in _fails(cli, "schedules", "unpause", "plain")


def test_file_watches_pause_edits_the_definition(cli: typer.Typer, api: Api) -> None:
    ingest = simple_workflow(
        "ingest", trigger={"file_arrival": {"url": WATCHED, "wait_after_last_change_seconds": 0}}
    )
    assert api.client.post("/api/v1/workflows", json=ingest).status_code == 201
    paused = json.loads(_ok(cli, "file-watches", "pause", "ingest"))
    assert paused["paused"] is True and paused["location"] == WATCHED
    # The pause is in the stored definition, so the listener's sync keeps it.
    source = api.client.get("/api/v1/workflows/ingest").json()["source"]
    assert source["trigger"]["pause_status"] == "PAUSED"
    assert source["trigger"]["file_arrival"]["url"] == WATCHED
    listed = json.loads(_ok(cli, "file-watches", "list"))["items"]
    assert [(w["workflow"], w["paused"]) for w in listed] == [("ingest", True)]
    assert json.loads(_ok(cli, "file-watches", "unpause", "ingest"))["paused"] is False
    assert api.client.get("/api/v1/workflows/ingest").json()["version"] == 3


def test_file_watches_pause_needs_a_file_trigger(cli: typer.Typer, api: Api) -> None:
    assert api.client.post("/api/v1/workflows", json=simple_workflow("plain")).status_code == 201
    assert "no file_arrival trigger" in _fails(cli, "file-watches", "pause", "plain")
    assert "no workflow" in _fails(cli, "file-watches", "pause", "missing")


def test_expectations_create_list_delete(cli: typer.Typer, api: Api) -> None:
    assert api.client.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 201
    made = json.loads(
        _ok(
            cli,
            "expectations",
            "create",
            "etl-by-six",
            "--deadline",
            "0 0 6 ? * MON-FRI",
            "--timezone",
            "Europe/Berlin",
            "--workflow-succeeded",
            "etl",
        )
    )
    assert made["kind"] == "run" and made["workflow"] == "etl"
    assert made["next_deadline_at"]
    _ok(cli, "expectations", "create", "file-by-six", "--deadline", "0 6 * * 1-5",
        "--file-under", WATCHED, "--alert-workflow", "etl")  # fmt: skip
    listed = json.loads(_ok(cli, "expectations", "list"))["items"]
    assert [e["name"] for e in listed] == ["etl-by-six", "file-by-six"]
    assert listed[1]["location"] == WATCHED
    both = _fails(cli, "expectations", "create", "x", "--deadline", "0 6 * * *")
    assert "$.file_under" in both
    _ok(cli, "expectations", "delete", "etl-by-six")
    listed = json.loads(_ok(cli, "expectations", "list"))["items"]
    assert [e["name"] for e in listed] == ["file-by-six"]
    assert "no expectation" in _fails(cli, "expectations", "delete", "etl-by-six")


def test_blob_urls_keep_every_folder_of_the_name() -> None:
    """An Azure host URL's path is container/name; the name kept only its first folder
    before, so every pushed blob under landing/in/ looked like the same blob "in"."""
    location = parse_location("https://acct.blob.core.windows.net/landing/in/2026/11/a.csv")
    assert (location.container, location.prefix) == ("landing", "in/2026/11/a.csv")
    assert parse_location("https://acct.blob.core.windows.net/landing").prefix == ""
    emulated = parse_location("http://127.0.0.1:10000/devstoreaccount1/landing/in/2026/a.csv")
    assert (emulated.container, emulated.prefix) == ("landing", "in/2026/a.csv")

"""Event Grid push through the API (handshakes, schemas, key check, dedupe with the
listener), schedule pause over the API, and expectations checked by the scheduler."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from service.app import create_app
from service.store.models import AlertDelivery, Run
from service.store.models.triggers import Expectation
from service.triggers.listener import Listener
from service.triggers.scheduler import Scheduler
from tests.factories import create_api_key
from tests.servers import serve_app
from tests.triggers.conftest import Azurite, FakeClock, Triggers

pytestmark = pytest.mark.parametrize("database_url", ["store"], indirect=True)

KEY = "eventgrid-shared-key-0123456789"


@pytest.fixture
def served(triggers: Triggers, azurite: Azurite) -> Iterator[tuple[Triggers, httpx.Client]]:
    from service.store.migrate import upgrade

    upgrade(triggers.settings.database_url or "")
    settings = triggers.settings.model_copy(
        update={
            "eventgrid_access_key": SecretStr(KEY),
            "blob_connection_string": SecretStr(azurite.connection_string),
        }
    )
    triggers.settings = settings
    key = create_api_key(triggers.sessions)
    with (
        serve_app(create_app(settings)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client,
    ):
        yield triggers, client


def _blob_created(url: str, etag: str) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "eventType": "Microsoft.Storage.BlobCreated",
        "subject": "/blobServices/default/containers/x/blobs/y",
        "eventTime": "2026-11-25T08:00:00Z",
        "data": {"api": "PutBlob", "url": url, "eTag": etag},
        "dataVersion": "",
        "metadataVersion": "1",
    }


def test_event_grid_push(served: tuple[Triggers, httpx.Client], azurite: Azurite) -> None:
    triggers, client = served
    container = f"c{uuid.uuid4().hex[:12]}"
    base = f"{azurite.blob_url}/{container}/landing/"
    triggers.add_workflow("pushed", trigger={"file_arrival": {"url": base}})
    listener = Listener(triggers.sessions, triggers.sender, triggers.settings)
    listener.startup()
    listener.tick()  # the watch's first look: an empty (missing) container

    hook = f"/events/eventgrid?key={KEY}"
    validation = client.post(
        hook,
        json=[
            {
                "id": "1",
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            }
        ],
    )
    assert validation.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    handshake = client.options(hook, headers={"WebHook-Request-Origin": "eventgrid.azure.net"})
    assert handshake.headers["webhook-allowed-origin"] == "eventgrid.azure.net"

    pushed = client.post(hook, json=[_blob_created(base + "a.csv", "0x1")])
    assert pushed.status_code == 200, pushed.text
    assert len(pushed.json()["event_ids"]) == 1
    again = client.post(hook, json=[_blob_created(base + "a.csv", "0x1")])  # at-least-once
    assert again.json()["event_ids"] == []
    cloud_event = {
        "specversion": "1.0",
        "type": "Microsoft.Storage.BlobCreated",
        "source": "/subscriptions/x",
        "id": "2",
        "data": {"url": base + "b.csv", "eTag": "0x2"},
    }
    as_cloud_event = client.post(
        hook,
        content=httpx.Request("POST", "/", json=cloud_event).content,
        headers={"Content-Type": "application/cloudevents+json"},
    )
    assert len(as_cloud_event.json()["event_ids"]) == 1
    other = client.post(hook, json=[{**_blob_created(base + "c.csv", "0x3"), "eventType": "X"}])
    assert other.json() == {"blobs": 0, "ignored": 1, "event_ids": []}
    elsewhere = client.post(hook, json=[_blob_created(f"{azurite.blob_url}/other/c.csv", "0x4")])
    assert elsewhere.json()["event_ids"] == []

    assert client.post("/events/eventgrid?key=wrong", json=[]).status_code == 401
    assert client.post("/events/eventgrid", json=[]).status_code == 401
    bad = client.post(hook, json=[{"eventType": "Microsoft.Storage.BlobCreated", "data": {}}])
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "$[0].data.url"
    assert len(triggers.accepted("file_arrival")) == 2


def test_schedules_pause_and_unpause_over_the_api(
    served: tuple[Triggers, httpx.Client],
) -> None:
    triggers, client = served
    triggers.add_workflow("nightly", schedule={"cron": "0 0 2 * * ?", "timezone": "Europe/Berlin"})
    paused = client.patch("/api/v1/schedules/nightly", json={"paused": True})
    assert paused.status_code == 200, paused.text
    assert paused.json()["paused"] is True and paused.json()["paused_by_operator"] is True
    listed = client.get("/api/v1/schedules").json()["items"]
    assert [s["workflow"] for s in listed] == ["nightly"]
    resumed = client.patch(
        "/api/v1/schedules/nightly", json={"paused": False, "misfire_policy": "catch_up"}
    )
    assert resumed.json()["paused"] is False and resumed.json()["misfire_policy"] == "catch_up"
    assert client.patch("/api/v1/schedules/nope", json={"paused": True}).status_code == 404
    bad = client.patch("/api/v1/schedules/nightly", json={"misfire_policy": "later"})
    assert bad.status_code == 422


def test_a_missed_expectation_is_an_alert_event(
    served: tuple[Triggers, httpx.Client], clock: FakeClock, tmp_path: Path
) -> None:
    triggers, client = served
    inbox = tmp_path / "landing"
    inbox.mkdir()
    triggers.add_workflow("loader", notifications={"on_failure": ["ops@example.com"]})
    created = client.post(
        "/api/v1/expectations",
        json={
            "name": "morning-file",
            "deadline_cron": "0 0 6 ? * MON-FRI",
            "timezone": "Europe/Berlin",
            "file_under": f"file://{inbox}/",
            "alert_workflow": "loader",
        },
    )
    assert created.status_code == 201, created.text
    run_expectation = client.post(
        "/api/v1/expectations",
        json={"name": "loaded", "deadline_cron": "0 0 7 * * ?", "workflow_succeeded": "loader"},
    )
    assert run_expectation.status_code == 201
    bad = client.post(
        "/api/v1/expectations",
        json={"name": "x", "deadline_cron": "0 0 6 * * *", "workflow_succeeded": "loader"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "$.deadline_cron"

    with triggers.sessions.begin() as session:
        for row in session.query(Expectation):
            row.next_deadline_at = clock.now + timedelta(minutes=1)
            row.created_at = clock.now - timedelta(hours=1)
    scheduler = Scheduler(triggers.sessions, triggers.sender, triggers.settings, clock=clock)
    scheduler.startup()
    (inbox / "today.csv").write_text("x")
    arrived = (clock.now + timedelta(seconds=30)).timestamp()
    os.utime(inbox / "today.csv", (arrived, arrived))  # inside the window
    with triggers.sessions() as session:
        assert session.query(Run).count() == 0  # no run: the run expectation is missed
    clock.advance(minutes=2)
    scheduler.tick()
    outcomes = {e["name"]: e for e in client.get("/api/v1/expectations").json()["items"]}
    assert outcomes["morning-file"]["last_outcome"] == "met"
    assert outcomes["morning-file"]["last_detail"]["file"].endswith("today.csv")
    assert outcomes["loaded"]["last_outcome"] == "missed"
    assert outcomes["loaded"]["next_deadline_at"] > outcomes["loaded"]["last_deadline_at"]
    # The miss reached the alert policy: the workflow's on_failure list hears it.
    with triggers.sessions() as session:
        alerts = session.query(AlertDelivery).all()
        assert [(a.event_type, a.target) for a in alerts] == [
            ("expectation.missed", "ops@example.com")
        ]
    # A deadline is checked once.
    scheduler.tick()
    again = {e["name"]: e for e in client.get("/api/v1/expectations").json()["items"]}
    assert again["loaded"]["last_deadline_at"] == outcomes["loaded"]["last_deadline_at"]

"""POST /hooks/{name}: signature checks, the ledger, dedupe; managing hooks."""

from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from service.store.models import TriggerEvent
from tests.api.conftest import Api
from tests.factories import signed_post, simple_workflow

SECRET = "a-very-secret-hook-secret"


def _setup(api: Api) -> None:
    assert api.client.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 201
    response = api.client.post(
        "/api/v1/hooks",
        json={"name": "orders", "workflow": "etl", "secret": SECRET, "parameters": {"d": "$.date"}},
    )
    assert response.status_code == 201, response.text
    assert response.json()["secret"] == SECRET


def _event_count(api: Api) -> int:
    with api.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(TriggerEvent)) or 0)


def test_a_signed_delivery_is_recorded_then_acknowledged(api: Api) -> None:
    _setup(api)
    response = signed_post(api.client, "orders", SECRET, b'{"date": "2026-11-25"}')
    assert response.status_code == 202, response.text
    event_id = response.json()["event_id"]
    with api.sessions() as session:
        event = session.get(TriggerEvent, event_id)
        assert event is not None
        assert event.parameters == {"d": "2026-11-25"}
        assert event.status == "received"
    assert api.queued_messages() == 1
    shown = api.client.get(f"/api/v1/events/{event_id}").json()
    assert shown["source"] == "webhook" and shown["source_name"] == "orders"


def test_the_same_delivery_twice_is_one_event(api: Api) -> None:
    _setup(api)
    body = b'{"date": "2026-11-25"}'
    first = signed_post(api.client, "orders", SECRET, body, idempotency_key="delivery-1")
    second = signed_post(api.client, "orders", SECRET, body, idempotency_key="delivery-1")
    assert first.status_code == second.status_code == 202
    assert first.json()["event_id"] == second.json()["event_id"]
    assert second.json()["duplicate"] is True
    assert second.headers["idempotent-replayed"] == "true"
    assert _event_count(api) == 1
    assert api.queued_messages() == 1
    # Without an Idempotency-Key, a replay of the very same signed request is recognised too.
    ts = int(time.time())
    third = signed_post(api.client, "orders", SECRET, body, timestamp=ts)
    fourth = signed_post(api.client, "orders", SECRET, body, timestamp=ts)
    assert third.json()["event_id"] == fourth.json()["event_id"] != first.json()["event_id"]
    assert _event_count(api) == 2


def test_bad_stale_or_missing_signatures_store_nothing(api: Api) -> None:
    _setup(api)
    body = b'{"date": "2026-11-25"}'
    cases = [
        signed_post(api.client, "orders", "not-the-secret-at-all", body),
        signed_post(api.client, "orders", SECRET, body, timestamp=int(time.time()) - 301),
        api.client.post("/hooks/orders", content=body),
    ]
    for response in cases:
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
    unknown = signed_post(api.client, "nope", SECRET, body)
    assert unknown.status_code == 404
    assert _event_count(api) == 0
    assert api.queued_messages() == 0


def test_a_missing_mapped_field_is_a_422_with_its_path(api: Api) -> None:
    _setup(api)
    response = signed_post(api.client, "orders", SECRET, b'{"other": 1}')
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"path": "$.date", "message": "the body has no value at $.date (needed for parameter 'd')"}
    ]
    not_json = signed_post(api.client, "orders", SECRET, b"<xml/>")
    assert not_json.status_code == 400
    assert _event_count(api) == 0


def test_hook_management(api: Api) -> None:
    _setup(api)
    listed = api.client.get("/api/v1/hooks").json()["items"]
    assert [h["name"] for h in listed] == ["orders"]
    assert "secret" not in listed[0]
    assert "secret" not in api.client.get("/api/v1/hooks/orders").json()
    bad = api.client.post(
        "/api/v1/hooks", json={"name": "x", "workflow": "etl", "parameters": {"p": "date"}}
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["path"].startswith("$.parameters")
    unknown = api.client.post("/api/v1/hooks", json={"name": "y", "workflow": "missing"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"path": "$.workflow", "message": "names no existing workflow"}
    ]
    assert api.client.delete("/api/v1/hooks/orders").status_code == 204
    assert signed_post(api.client, "orders", SECRET, json.dumps({}).encode()).status_code == 404

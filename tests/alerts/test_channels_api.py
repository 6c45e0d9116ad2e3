"""Channels, subscriptions, test alerts and redelivery through the real API (uvicorn,
real Redis for the queued messages)."""

from __future__ import annotations

import json
from typing import Any

import redis

from service.store.models import DeliveryStatus
from service.store.repositories import alerts as alerts_repo
from tests.api.conftest import Api, api  # noqa: F401  (the fixture)


def queued(api: Api) -> list[tuple[str, list[Any]]]:  # noqa: F811
    """(task name, args) of every message the API published, oldest first."""
    prefix = api.settings.queue_prefix
    broker: redis.Redis = api.redis
    messages = broker.lrange(f"{prefix}:{prefix}.tasks", 0, -1)
    found = []
    for raw in reversed(messages):
        message = json.loads(raw)
        body = json.loads(__import__("base64").b64decode(message["body"]))
        found.append((message["headers"]["task"], body[0]))
    return found


def test_channel_lifecycle_and_validation_by_path(api: Api) -> None:  # noqa: F811
    client = api.client
    assert client.post("/api/v1/channels", json={"name": "etl-failures"}).status_code == 201
    assert client.post("/api/v1/channels", json={"name": "etl-failures"}).status_code == 409
    bad = client.post(
        "/api/v1/channels/etl-failures/subscriptions",
        json={
            "kind": "webhook",
            "target": "http://169.254.169.254/latest",
            "event_types": ["run.failed", "run.exploded"],
        },
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert sorted(e["path"] for e in bad.json()["errors"]) == ["$.event_types[1]", "$.target"]
    created = client.post(
        "/api/v1/channels/etl-failures/subscriptions",
        json={
            "kind": "email",
            "target": "data@example.com",
            "event_types": ["run.failed"],
            "workflow_tags": {"team": "data"},
        },
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    [channel] = client.get("/api/v1/channels").json()["channels"]
    assert channel["subscriptions"] == [subscription]
    assert (
        client.delete(f"/api/v1/channels/etl-failures/subscriptions/{subscription['id']}")
    ).status_code == 204
    assert client.get("/api/v1/channels/etl-failures").json()["subscriptions"] == []
    assert client.get("/api/v1/channels/nope").status_code == 404
    # Nothing half-written by the refused subscription.
    with api.sessions() as session:
        assert alerts_repo.list_recent_deliveries(session) == []


def test_test_alert_then_history_then_redeliver(api: Api) -> None:  # noqa: F811
    client = api.client
    client.post("/api/v1/channels", json={"name": "ml-team"})
    assert client.post("/api/v1/channels/ml-team/test").status_code == 409  # nobody to tell
    client.post(
        "/api/v1/channels/ml-team/subscriptions",
        json={"kind": "email", "target": "ml@example.com"},
    )
    response = client.post("/api/v1/channels/ml-team/test")
    assert response.status_code == 202
    [delivery_id] = response.json()["delivery_ids"]
    assert queued(api)[-1] == ("lockgate.deliver_alert", [delivery_id])

    detail = client.get(f"/api/v1/alerts/{delivery_id}").json()
    assert (detail["status"], detail["event_type"], detail["history"]) == (
        "pending",
        "alert.test",
        [],
    )
    # Pending alerts are not redelivered; dead ones are, with their history kept.
    assert client.post(f"/api/v1/alerts/{delivery_id}/redeliver").status_code == 409
    with api.sessions.begin() as session:
        delivery = alerts_repo.get_delivery(session, delivery_id=delivery_id)
        assert delivery is not None
        alerts_repo.mark_attempt_failed(session, delivery=delivery, error="550", retry_at=None)
    listed = client.get("/api/v1/alerts", params={"status": "dead"}).json()["alerts"]
    assert [a["id"] for a in listed] == [delivery_id]
    redelivered = client.post(f"/api/v1/alerts/{delivery_id}/redeliver")
    assert redelivered.status_code == 202
    assert redelivered.json()["status"] == DeliveryStatus.PENDING
    assert queued(api)[-1] == ("lockgate.deliver_alert", [delivery_id])
    assert client.get("/api/v1/alerts", params={"status": "weird"}).status_code == 422
    assert client.get("/api/v1/alerts", params={"before": "garbage"}).status_code == 422
    assert client.post("/api/v1/alerts/nope/redeliver").status_code == 404


def test_subscriptions_name_databricks_jobs_by_id_name_and_tag(api: Api) -> None:  # noqa: F811
    client = api.client
    client.post("/api/v1/channels", json={"name": "finance"})
    bad = client.post(
        "/api/v1/channels/finance/subscriptions",
        json={
            "kind": "email",
            "target": "finance@example.com",
            "jobs": [123, "", -4, True, 1.5, {"id": 1}],
            "job_tags": {"team": 7},
        },
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert sorted(e["path"] for e in bad.json()["errors"]) == [
        "$.job_tags.team",
        "$.jobs[1]",
        "$.jobs[2]",
        "$.jobs[3]",
        "$.jobs[4]",
        "$.jobs[5]",
    ]
    created = client.post(
        "/api/v1/channels/finance/subscriptions",
        json={
            "kind": "email",
            "target": "finance@example.com",
            "jobs": [123, "billing-export", "123", " nightly "],
            "job_tags": {"team": "finance", "tier": "*"},
        },
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    # Ids and names are kept as text (a route matches either), once each.
    assert subscription["jobs"] == ["123", "billing-export", "nightly"]
    assert subscription["job_tags"] == {"team": "finance", "tier": "*"}
    assert client.get("/api/v1/channels/finance").json()["subscriptions"] == [subscription]
    # A subscription made without them says so: it names no jobs.
    plain = client.post(
        "/api/v1/channels/finance/subscriptions",
        json={"kind": "email", "target": "all@example.com"},
    ).json()
    assert (plain["jobs"], plain["job_tags"]) == ([], {})

"""POST /hooks/{name}: verification schemes, the ledger, dedupe, filters, mapping, limits;
managing hooks (create, rotate, disable, delete)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select

from service.runs.dispatch import dispatch_event
from service.runs.sweeping import find_stuck_work
from service.store.models import Run, TriggerEvent
from service.triggers.webhook import sign_github
from tests.api.conftest import Api
from tests.factories import signed_post, simple_workflow

SECRET = "a-very-secret-hook-secret"
BODY = b'{"date": "2026-11-25"}'


def _setup(api: Api, **hook: Any) -> None:
    if api.client.get("/api/v1/workflows/etl").status_code == 404:
        assert api.client.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 201
    spec = {"name": "orders", "workflow": "etl", "secret": SECRET, "parameters": {"d": "$.date"}}
    spec.update(hook)
    response = api.client.post("/api/v1/hooks", json=spec)
    assert response.status_code == 201, response.text
    assert response.json()["secret"] == spec["secret"]


def _events(api: Api) -> list[TriggerEvent]:
    with api.sessions() as session:
        return list(session.scalars(select(TriggerEvent).order_by(TriggerEvent.received_at)))


def _accepted(api: Api) -> list[TriggerEvent]:
    return [e for e in _events(api) if e.status != "ignored"]


def _verdicts(api: Api) -> list[str | None]:
    return [e.verdict for e in _events(api)]


def test_a_signed_delivery_is_recorded_then_acknowledged(api: Api) -> None:
    _setup(api)
    response = signed_post(api.client, "orders", SECRET, BODY)
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


def test_the_same_delivery_twice_is_one_run_and_a_duplicate_in_the_ledger(api: Api) -> None:
    _setup(api)
    first = signed_post(api.client, "orders", SECRET, BODY, idempotency_key="delivery-1")
    second = signed_post(api.client, "orders", SECRET, BODY, idempotency_key="delivery-1")
    assert first.status_code == second.status_code == 202
    assert first.json()["event_id"] == second.json()["event_id"]
    assert second.json()["duplicate"] is True and second.json()["verdict"] == "duplicate"
    assert second.headers["idempotent-replayed"] == "true"
    assert len(_accepted(api)) == 1
    duplicate = [e for e in _events(api) if e.verdict == "duplicate"]
    assert len(duplicate) == 1 and duplicate[0].duplicate_of_id == first.json()["event_id"]
    assert api.queued_messages() == 1
    # Without an Idempotency-Key, a replay of the very same signed request is recognised too.
    ts = int(time.time())
    third = signed_post(api.client, "orders", SECRET, BODY, timestamp=ts)
    fourth = signed_post(api.client, "orders", SECRET, BODY, timestamp=ts)
    assert third.json()["event_id"] == fourth.json()["event_id"] != first.json()["event_id"]
    assert len(_accepted(api)) == 2
    assert api.queued_messages() == 2


def test_refused_signatures_are_rejected_rows_that_start_nothing(api: Api) -> None:
    _setup(api)
    cases = [
        signed_post(api.client, "orders", "not-the-secret-at-all", BODY),
        signed_post(api.client, "orders", SECRET, BODY, timestamp=int(time.time()) - 301),
        api.client.post("/hooks/orders", content=BODY),
    ]
    for response in cases:
        assert response.status_code == 401, response.text
        assert response.headers["content-type"] == "application/problem+json"
    assert _verdicts(api) == ["rejected"] * 3
    for event in _events(api):
        assert "date" not in json.dumps(event.payload)  # nothing of an untrusted body is kept
        assert event.payload["body_bytes"] == len(BODY)
    unknown = signed_post(api.client, "nope", SECRET, BODY)
    assert unknown.status_code == 404
    assert len(_events(api)) == 3
    assert api.queued_messages() == 0
    # Nothing a worker runs starts them either: a dispatch of a rejected row claims
    # nothing, and the sweeper (looking a day ahead) finds none of them stuck.
    refused = [event.id for event in _events(api)]
    with api.sessions.begin() as session:
        for event_id in refused:
            assert dispatch_event(session, event_id=event_id, settings=api.settings) is None
        later = datetime.now(UTC) + timedelta(days=1)
        stuck = find_stuck_work(session, now=later, stuck_after=timedelta(seconds=1))
        assert stuck.event_ids == []
    with api.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 0


def test_a_missing_mapped_field_is_a_422_with_its_path(api: Api) -> None:
    _setup(api)
    response = signed_post(api.client, "orders", SECRET, b'{"other": 1}')
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "path": "$.date",
            "message": "the request has no value at $.date (needed for parameter 'd')",
        }
    ]
    not_json = signed_post(api.client, "orders", SECRET, b"<xml/>")
    assert not_json.status_code == 400
    assert _verdicts(api) == ["rejected", "rejected"]
    assert api.queued_messages() == 0


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
    bad_filter = api.client.post(
        "/api/v1/hooks", json={"name": "x", "workflow": "etl", "filters": [{"path": "$.a"}]}
    )
    assert bad_filter.status_code == 422
    unknown = api.client.post("/api/v1/hooks", json={"name": "y", "workflow": "missing"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [
        {"path": "$.workflow", "message": "names no existing workflow"}
    ]
    assert api.client.delete("/api/v1/hooks/orders").status_code == 204
    assert signed_post(api.client, "orders", SECRET, b"{}").status_code == 404


def test_rotation_keeps_the_old_secret_valid_for_its_grace(api: Api) -> None:
    _setup(api)
    rotated = api.client.post("/api/v1/hooks/orders/rotate-secret", json={"grace_seconds": 600})
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != SECRET and rotated.json()["active_secrets"] == 2
    assert "secret" not in api.client.get("/api/v1/hooks/orders").json()
    assert (
        signed_post(api.client, "orders", new_secret, BODY, idempotency_key="a").status_code == 202
    )
    assert signed_post(api.client, "orders", SECRET, BODY, idempotency_key="b").status_code == 202
    # Without grace the current secret retires at once; the first keeps its own grace.
    again = api.client.post("/api/v1/hooks/orders/rotate-secret", json={"grace_seconds": 0})
    newest = again.json()["secret"]
    assert again.json()["active_secrets"] == 2
    assert signed_post(api.client, "orders", newest, BODY, idempotency_key="c").status_code == 202
    assert (
        signed_post(api.client, "orders", new_secret, BODY, idempotency_key="d").status_code == 401
    )
    assert signed_post(api.client, "orders", SECRET, BODY, idempotency_key="e").status_code == 202


def test_a_disabled_hook_refuses_until_enabled(api: Api) -> None:
    _setup(api)
    assert api.client.post("/api/v1/hooks/orders/disable").json()["disabled"] is True
    assert signed_post(api.client, "orders", SECRET, BODY).status_code == 403
    assert api.client.post("/api/v1/hooks/orders/enable").json()["disabled"] is False
    assert signed_post(api.client, "orders", SECRET, BODY).status_code == 202
    assert len(_accepted(api)) == 1


def test_github_signatures_delivery_ids_and_form_bodies(api: Api) -> None:
    _setup(
        api, verification="github", parameters={"ref": "$.ref", "event": "header:X-GitHub-Event"}
    )
    payload = {"ref": "refs/heads/main"}
    form = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Hub-Signature-256": sign_github(SECRET, form),
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-GitHub-Event": "push",
    }
    first = api.client.post("/hooks/orders", content=form, headers=headers)
    assert first.status_code == 202, first.text
    again = api.client.post("/hooks/orders", content=form, headers=headers)
    assert again.json()["duplicate"] is True
    event = _accepted(api)[0]
    assert event.parameters == {"ref": "refs/heads/main", "event": "push"}
    assert event.dedupe_key == "key:72d3162e-cc78-11e3-81ab-4c9367dc0958"
    forged = api.client.post(
        "/hooks/orders", content=form, headers={**headers, "X-Hub-Signature-256": "sha256=00"}
    )
    assert forged.status_code == 401


def test_shared_token_verification(api: Api) -> None:
    _setup(api, verification="token", parameters={"env": "query:env"})
    sender = api.anonymous  # no API key: the token is the only credential
    ok = sender.post(
        "/hooks/orders?env=prod", json={}, headers={"Authorization": f"Bearer {SECRET}"}
    )
    assert ok.status_code == 202, ok.text
    in_query = sender.post(f"/hooks/orders?env=dev&token={SECRET}", json={})
    assert in_query.status_code == 202
    wrong = sender.post("/hooks/orders?env=x", json={}, headers={"X-Lockgate-Token": "nope"})
    assert wrong.status_code == 401
    assert sorted(e.parameters["env"] for e in _accepted(api)) == ["dev", "prod"]


def test_filters_drop_deliveries_into_the_ledger(api: Api) -> None:
    _setup(
        api,
        filters=[
            {"path": "$.action", "equals": "closed"},
            {"path": "header:X-Env", "one_of": ["prod", "staging"]},
        ],
    )
    body = b'{"date": "2026-11-25", "action": "opened"}'
    dropped = signed_post(api.client, "orders", SECRET, body, idempotency_key="1")
    assert dropped.status_code == 202
    assert dropped.json()["verdict"] == "filtered"
    assert "$.action" in dropped.json()["reason"]
    assert _verdicts(api) == ["filtered"]
    assert api.queued_messages() == 0
    body = b'{"date": "2026-11-25", "action": "closed"}'
    ts = str(int(time.time()))
    from service.triggers.webhook import sign

    kept = api.client.post(
        "/hooks/orders",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Lockgate-Timestamp": ts,
            "X-Lockgate-Signature": sign(SECRET, ts, body),
            "X-Env": "prod",
        },
    )
    assert kept.status_code == 202 and kept.json()["verdict"] == "accepted"
    assert api.queued_messages() == 1


def test_one_hook_can_start_several_workflows(api: Api) -> None:
    assert api.client.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 201
    assert api.client.post("/api/v1/workflows", json=simple_workflow("report")).status_code == 201
    _setup(api, workflow=None, workflows=["etl", "report"])
    response = signed_post(api.client, "orders", SECRET, BODY, idempotency_key="x")
    assert len(response.json()["event_ids"]) == 2
    again = signed_post(api.client, "orders", SECRET, BODY, idempotency_key="x")
    assert sorted(again.json()["event_ids"]) == sorted(response.json()["event_ids"])
    assert len(_accepted(api)) == 2
    assert api.queued_messages() == 2


def test_body_limit_and_rate_limit(api: Api) -> None:
    _setup(api, max_body_bytes=64, rate_limit_per_minute=3)
    big = signed_post(api.client, "orders", SECRET, b'{"date": "' + b"x" * 100 + b'"}')
    assert big.status_code == 413
    assert _verdicts(api) == ["rejected"]
    statuses = [
        signed_post(api.client, "orders", SECRET, BODY, idempotency_key=str(i)).status_code
        for i in range(3)
    ]
    assert statuses == [202, 202, 429]  # the 413 counted as the first of three
    limited = signed_post(api.client, "orders", SECRET, BODY, idempotency_key="later")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert len(_accepted(api)) == 2

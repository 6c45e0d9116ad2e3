"""/api/v1/events: the ledger's list with filters and keyset paging, replay, dry run."""

from __future__ import annotations

from service.runs.dispatch import dispatch_event
from tests.api.conftest import Api
from tests.factories import signed_post, simple_workflow

SECRET = "a-very-secret-hook-secret"


def _setup(api: Api) -> None:
    workflow = simple_workflow(
        "etl",
        parameters=[{"name": "d", "default": ""}, {"name": "where", "default": ""}],
    )
    assert api.client.post("/api/v1/workflows", json=workflow).status_code == 201
    hook = {
        "name": "orders",
        "workflow": "etl",
        "secret": SECRET,
        "parameters": {"d": "$.date"},
        "filters": [{"path": "$.kind", "one_of": ["order", "refund"]}],
    }
    assert api.client.post("/api/v1/hooks", json=hook).status_code == 201


def _deliver(api: Api, key: str, kind: str = "order") -> dict[str, object]:
    body = f'{{"date": "2026-11-{key}", "kind": "{kind}"}}'.encode()
    response = signed_post(api.client, "orders", SECRET, body, idempotency_key=key)
    assert response.status_code == 202, response.text
    result: dict[str, object] = response.json()
    return result


def test_listing_filters_and_pages_without_gaps(api: Api) -> None:
    _setup(api)
    for day in range(10, 17):
        _deliver(api, str(day))
    _deliver(api, "10")  # a duplicate
    _deliver(api, "20", kind="other")  # filtered
    assert signed_post(api.client, "orders", "wrong-secret-wrong-secret", b"{}").status_code == 401

    everything = api.client.get("/api/v1/events", params={"limit": 100}).json()["items"]
    assert len(everything) == 10
    verdicts = [e["verdict"] for e in everything]
    assert verdicts.count("received") == 7
    assert {"duplicate", "filtered", "rejected"} <= set(verdicts)
    assert everything[0]["verdict"] == "rejected"  # newest first

    seen: list[str] = []
    token = None
    while True:
        params: dict[str, str | int] = {"limit": 3, "source": "webhook"}
        if token:
            params["page_token"] = token
        page = api.client.get("/api/v1/events", params=params).json()
        seen += [e["id"] for e in page["items"]]
        token = page["next_page_token"]
        if token is None:
            break
    assert seen == [e["id"] for e in everything]

    duplicates = api.client.get("/api/v1/events", params={"verdict": "duplicate"}).json()
    assert [e["duplicate_of"] for e in duplicates["items"]] == [
        e["id"] for e in everything if e["dedupe_key"] == "key:10" and e["verdict"] == "received"
    ]
    assert api.client.get("/api/v1/events", params={"workflow": "nope"}).json()["items"] == []
    bad = api.client.get("/api/v1/events", params={"verdict": "maybe"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "query:verdict"
    assert api.client.get("/api/v1/events", params={"page_token": "!!"}).status_code == 400


def test_replay_makes_a_new_run_linked_to_the_original(api: Api) -> None:
    _setup(api)
    original = str(_deliver(api, "11")["event_id"])
    with api.sessions.begin() as session:
        original_run = dispatch_event(session, event_id=original)
    replayed = api.client.post(
        f"/api/v1/events/{original}/replay", headers={"Idempotency-Key": "r1"}
    )
    assert replayed.status_code == 202, replayed.text
    replay_id = replayed.json()["event_id"]
    assert replay_id != original and replayed.json()["replay_of"] == original
    again = api.client.post(f"/api/v1/events/{original}/replay", headers={"Idempotency-Key": "r1"})
    assert again.json()["event_id"] == replay_id and again.json()["duplicate"] is True
    with api.sessions.begin() as session:
        dispatch_event(session, event_id=replay_id)  # submitted or queued: a run either way
    shown = api.client.get(f"/api/v1/events/{original}").json()
    assert shown["replays"] == [replay_id]
    replay = api.client.get(f"/api/v1/events/{replay_id}").json()
    assert replay["replay_of"] == original and replay["parameters"] == {"d": "2026-11-11"}
    assert replay["run_id"] is not None and replay["run_id"] != original_run
    assert [r["id"] for r in shown["runs"]] == [original_run, replay["run_id"]]

    filtered = str(_deliver(api, "12", kind="other")["event_id"])
    refused = api.client.post(f"/api/v1/events/{filtered}/replay")
    assert refused.status_code == 409
    assert api.client.post("/api/v1/events/nope/replay").status_code == 404


def test_dry_run_says_what_would_start_and_records_nothing(api: Api) -> None:
    _setup(api)
    before = api.client.get("/api/v1/events").json()["items"]
    would = api.client.post(
        "/api/v1/events:test",
        json={"hook": "orders", "body": {"date": "2026-12-01", "kind": "refund"}},
    )
    assert would.status_code == 200, would.text
    assert would.json()["verdict"] == "would_dispatch"
    assert would.json()["would_start"] == [{"workflow": "etl", "parameters": {"d": "2026-12-01"}}]
    filtered = api.client.post(
        "/api/v1/events:test", json={"hook": "orders", "body": {"kind": "x"}}
    ).json()
    assert filtered["verdict"] == "filtered" and filtered["would_start"] == []
    missing = api.client.post(
        "/api/v1/events:test", json={"hook": "orders", "body": {"kind": "order"}}
    ).json()
    assert missing["verdict"] == "rejected" and missing["path"] == "$.date"
    assert api.client.post("/api/v1/events:test", json={}).status_code == 422
    assert api.client.post("/api/v1/events:test", json={"hook": "nope"}).status_code == 404
    nothing = api.client.post(
        "/api/v1/events:test", json={"file_url": "file:///nowhere/x.csv"}
    ).json()
    assert nothing["verdict"] == "no_match"
    assert api.client.get("/api/v1/events").json()["items"] == before
    assert api.queued_messages() == 0

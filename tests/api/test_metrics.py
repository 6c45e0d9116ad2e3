"""/metrics: Prometheus text computed from the store, so it agrees with the ledger."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Api
from tests.factories import signed_post, simple_workflow

SECRET = "metrics-hook-secret-0123456789"


def _samples(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = api.anonymous.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_events_by_source_and_verdict_and_the_queue(api: Api) -> None:
    assert api.client.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 201
    hook = {"name": "orders", "workflow": "etl", "secret": SECRET}
    assert api.client.post("/api/v1/hooks", json=hook).status_code == 201
    body = b'{"n": 1}'
    assert signed_post(api.client, "orders", SECRET, body, idempotency_key="d1").status_code == 202
    assert signed_post(api.client, "orders", SECRET, body, idempotency_key="d1").status_code == 202
    assert signed_post(api.client, "orders", "wrong-secret-wrong", body).status_code == 401

    samples = _samples(api)
    events = {
        dict(labels)["verdict"]: value
        for (name, labels), value in samples.items()
        if name == "lockgate_trigger_events_total" and dict(labels)["source"] == "webhook"
    }
    assert events.get("duplicate") == 1
    assert sum(events.values()) == 3  # accepted, duplicate, rejected
    assert samples[("lockgate_queue_depth", ())] == api.queued_messages() == 1
    # Nothing submitted yet: an empty latency histogram, still exposed.
    assert samples[("lockgate_trigger_to_submit_seconds_count", ())] == 0

"""Databricks' run-now limits are enforced where a run's parameters are built: a manual
run and a webhook delivery whose parameters take over 10,000 bytes as JSON are refused
with 422 problem+json naming the path, and nothing is recorded or queued."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from service.store.models import TriggerEvent
from tests.api.conftest import Api
from tests.factories import signed_post, simple_workflow

SECRET = "a-very-secret-hook-secret"


def _recorded(api: Api) -> int:
    with api.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(TriggerEvent)) or 0)


def _size(parameters: dict[str, str]) -> int:
    return len(json.dumps(parameters, separators=(",", ":")).encode())


def test_a_manual_run_with_parameters_over_the_limit_is_refused(api: Api) -> None:
    assert api.client.post("/api/v1/workflows", json=simple_workflow("limits")).status_code == 201
    at_limit = {"p": "x" * (10_000 - _size({"p": ""}))}
    over = {"p": "x" * (10_001 - _size({"p": ""}))}
    assert (_size(at_limit), _size(over)) == (10_000, 10_001)

    refused = api.client.post("/api/v1/workflows/limits/runs", json={"parameters": over})

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["errors"] == [
        {"path": "$.parameters", "message": "take 10001 bytes as JSON; Databricks allows 10000"}
    ]
    assert _recorded(api) == 0 and api.queued_messages() == 0

    accepted = api.client.post("/api/v1/workflows/limits/runs", json={"parameters": at_limit})
    assert accepted.status_code == 202, accepted.text
    assert _recorded(api) == 1


def test_a_hook_delivery_mapping_parameters_over_the_limit_is_refused(api: Api) -> None:
    assert api.client.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 201
    hook = {"name": "big", "workflow": "etl", "secret": SECRET, "parameters": {"d": "$.data"}}
    assert api.client.post("/api/v1/hooks", json=hook).status_code == 201
    body = json.dumps({"data": "x" * 10_000}).encode()

    refused = signed_post(api.client, "big", SECRET, body)

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["errors"][0]["path"] == "$.parameters"
    assert "Databricks allows 10000" in problem["errors"][0]["message"]
    with api.sessions() as session:
        statuses = [e.status for e in session.scalars(select(TriggerEvent))]
    assert "received" not in statuses  # written down as refused, never run
    assert api.queued_messages() == 0

    small = signed_post(api.client, "big", SECRET, b'{"data": "2026-11-25"}')
    assert small.status_code == 202, small.text

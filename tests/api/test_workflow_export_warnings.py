"""GET /api/v1/workflows/{name}/export says what the export leaves out (inline SQL text,
webhook URL routes, the lockgate block) in the Lockgate-Export-Warnings header; the body
stays a document Databricks reads as it is."""

from __future__ import annotations

import json

from tests.api.conftest import Api
from tests.factories import simple_workflow

HEADER = "Lockgate-Export-Warnings"


def test_the_export_names_each_thing_it_leaves_out(api: Api) -> None:
    document = simple_workflow(
        "lossy",
        webhooks={"on_failure": ["https://hooks.example.com/fail"]},
        lockgate={"mode": "one_time"},
    )
    document["tasks"].append(
        {"task_key": "sum", "type": "sql", "warehouse_id": "w", "query": "SELECT 1"}
    )
    assert api.client.post("/api/v1/workflows", json=document).status_code == 201

    for fmt in ("json", "yaml"):
        exported = api.client.get("/api/v1/workflows/lossy/export", params={"format": fmt})
        assert exported.status_code == 200
        losses = {item["path"]: item["message"] for item in json.loads(exported.headers[HEADER])}
        assert set(losses) == {"$.tasks[1].query", "$.webhooks.on_failure", "$.lockgate"}
        assert "publish it there first" in losses["$.tasks[1].query"]
        assert "notification-destination ids" in losses["$.webhooks.on_failure"]

    plain = api.client.post("/api/v1/workflows", json=simple_workflow("plain"))
    assert plain.status_code == 201
    assert HEADER not in api.client.get("/api/v1/workflows/plain/export").headers

from __future__ import annotations

import json

import yaml

from tests.api.conftest import Api
from tests.factories import simple_workflow


def test_every_api_route_needs_a_key(api: Api) -> None:
    for method, path in [
        ("GET", "/api/v1/workflows"),
        ("POST", "/api/v1/workflows"),
        ("GET", "/api/v1/runs"),
        ("GET", "/api/v1/hooks"),
    ]:
        response = api.anonymous.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
    wrong = api.anonymous.get("/api/v1/workflows", headers={"Authorization": "Bearer lg_nope"})
    assert wrong.status_code == 401
    assert wrong.json()["title"] == "Invalid API key"


def test_create_get_list_replace_delete(api: Api) -> None:
    created = api.client.post("/api/v1/workflows", json=simple_workflow("etl"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "etl" and body["version"] == 1
    assert body["job_settings"]["tasks"][0]["notebook_task"]["notebook_path"] == "/Shared/x"

    assert api.client.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 409

    listed = api.client.get("/api/v1/workflows").json()
    assert [w["name"] for w in listed["items"]] == ["etl"]

    changed = simple_workflow("etl", timeout_seconds=60)
    replaced = api.client.put("/api/v1/workflows/etl", json=changed)
    assert replaced.status_code == 200 and replaced.json()["version"] == 2
    same = api.client.put("/api/v1/workflows/etl", json=changed)
    assert same.json()["version"] == 2  # an identical PUT changes nothing

    assert api.client.get("/api/v1/workflows/etl").json()["job_settings"]["timeout_seconds"] == 60
    assert api.client.delete("/api/v1/workflows/etl").status_code == 204
    assert api.client.get("/api/v1/workflows/etl").status_code == 404


def test_yaml_is_accepted(api: Api) -> None:
    document = yaml.safe_dump(simple_workflow("from-yaml"))
    response = api.client.post(
        "/api/v1/workflows", content=document, headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "from-yaml"


def test_invalid_workflow_is_a_problem_with_paths_and_nothing_is_stored(api: Api) -> None:
    document = simple_workflow("bad")
    document["tasks"].append(
        {"task_key": "b", "type": "notebook", "notebook_path": "/x", "depends_on": ["nope"]}
    )
    response = api.client.post("/api/v1/workflows", json=document)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    paths = [e["path"] for e in response.json()["errors"]]
    assert "$.tasks[1].depends_on[0]" in paths
    assert api.client.get("/api/v1/workflows/bad").status_code == 404


def test_malformed_body_is_a_4xx_not_a_500(api: Api) -> None:
    response = api.client.post(
        "/api/v1/workflows", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$"


def test_put_with_a_different_name_is_refused(api: Api) -> None:
    response = api.client.put("/api/v1/workflows/one", content=json.dumps(simple_workflow("two")))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"path": "$.name", "message": "must be 'one' to match the URL"}
    ]

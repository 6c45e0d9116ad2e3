from __future__ import annotations

import json

import yaml

from tests.api.conftest import Api
from tests.factories import simple_workflow

# Keys on every /api/v1 route: tests/api/test_every_route_needs_a_key.py.


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


JOBS_JSON = {
    "name": "jobs-json",
    "email_notifications": {"on_failure": ["ops@example.com"]},
    "schedule": {"quartz_cron_expression": "0 2 * * *", "timezone_id": "UTC"},
    "tasks": [
        {"task_key": "a", "notebook_task": {"notebook_path": "/Shared/a"}},
        {
            "task_key": "check",
            "depends_on": [{"task_key": "a"}],
            "condition_task": {"op": "EQUAL_TO", "left": "{{tasks.a.values.ok}}", "right": "1"},
        },
    ],
}

BUNDLE = """
bundle: {name: shop}
resources:
  jobs:
    orders:
      tasks:
        - task_key: load
          notebook_task: {notebook_path: /Shared/load}
    refunds:
      tasks:
        - task_key: run
          spark_python_task: {python_file: /Shared/refunds.py}
"""


def test_jobs_json_is_accepted_with_warnings_and_exported(api: Api) -> None:
    created = api.client.post("/api/v1/workflows", json=JOBS_JSON)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["format"] == "jobs"
    assert body["job_settings"]["schedule"]["quartz_cron_expression"] == "0 0 2 * * ?"
    assert "email_notifications" not in body["job_settings"]
    assert {"path": "$.schedule.quartz_cron_expression"}.items() <= body["warnings"][0].items()

    exported = api.client.get("/api/v1/workflows/jobs-json/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/json")
    settings = exported.json()
    assert settings["email_notifications"] == {"on_failure": ["ops@example.com"]}
    assert settings["tags"]["lockgate_workflow"] == "jobs-json"

    as_yaml = api.client.get("/api/v1/workflows/jobs-json/export", params={"format": "yaml"})
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text)["resources"]["jobs"]["jobs-json"] == settings

    # The export, sent back, is the same workflow: PUT changes nothing but the source.
    again = api.client.put("/api/v1/workflows/jobs-json", json=settings)
    assert again.status_code == 200
    assert again.json()["job_settings"] == body["job_settings"]


def test_bundle_creates_every_job_or_none(api: Api) -> None:
    headers = {"Content-Type": "application/yaml"}
    created = api.client.post("/api/v1/workflows", content=BUNDLE, headers=headers)
    assert created.status_code == 201, created.text
    assert [item["name"] for item in created.json()["items"]] == ["orders", "refunds"]
    assert all(item["format"] == "bundle" for item in created.json()["items"])
    # A second bundle with one existing job creates nothing.
    extended = BUNDLE.replace(
        "    refunds:",
        "    invoices:\n      tasks:\n        - task_key: t\n"
        "          notebook_task: {notebook_path: /x}\n    refunds:",
    )
    again = api.client.post("/api/v1/workflows", content=extended, headers=headers)
    assert again.status_code == 409
    assert api.client.get("/api/v1/workflows/invoices").status_code == 404


def test_invalid_jobs_json_is_a_problem_naming_the_cycle(api: Api) -> None:
    document = {
        "name": "loop",
        "tasks": [
            {
                "task_key": "a",
                "notebook_task": {"notebook_path": "/a"},
                "depends_on": [{"task_key": "b"}],
            },
            {
                "task_key": "b",
                "notebook_task": {"notebook_path": "/b"},
                "depends_on": [{"task_key": "a"}],
            },
        ],
    }
    response = api.client.post("/api/v1/workflows", json=document)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["path"] == "$.tasks[0].depends_on[0].task_key"
    assert "a -> b -> a" in error["message"]
    assert api.client.get("/api/v1/workflows/loop").status_code == 404


def test_seed_inline_sql_is_accepted_with_its_workspace_file(api: Api) -> None:
    document = simple_workflow("sql-wf")
    document["tasks"].append(
        {"task_key": "q", "type": "sql", "warehouse_id": "w", "query": "SELECT 1"}
    )
    body = api.client.post("/api/v1/workflows", json=document).json()
    path = "/Workspace/Shared/lockgate/sql-wf/q.sql"
    assert body["workspace_files"] == {path: "SELECT 1\n"}
    assert body["job_settings"]["tasks"][1]["sql_task"]["file"]["path"] == path
    assert any("cannot carry SQL text" in w["message"] for w in body["warnings"])


def test_export_of_an_unknown_workflow_is_404(api: Api) -> None:
    assert api.client.get("/api/v1/workflows/nope/export").status_code == 404
    bad_format = api.client.get("/api/v1/workflows/nope/export", params={"format": "xml"})
    assert bad_format.status_code == 422


def test_a_bad_lockgate_block_is_refused_with_its_path(api: Api) -> None:
    document = simple_workflow("engine-options", lockgate={"retry": {"mode": "sideways"}})
    response = api.client.post("/api/v1/workflows", json=document)
    assert response.status_code == 422
    assert [e["path"] for e in response.json()["errors"]] == ["$.lockgate.retry.mode"]
    good = simple_workflow("engine-options", lockgate={"retry": {"max_attempts": 3}})
    assert api.client.post("/api/v1/workflows", json=good).status_code == 201

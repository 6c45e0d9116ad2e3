"""The seed format's inline SQL (which Databricks' sql_task cannot carry) runs: the text is
published as a workspace file through the workspace API and the task reads that file."""

from __future__ import annotations

from tests.e2e.conftest import Lockgate, ended


def test_inline_sql_is_published_and_runs_on_the_local_backend(lockgate: Lockgate) -> None:
    workflow = {
        "name": "sql-inline",
        "tasks": [
            {
                "task_key": "count",
                "type": "sql",
                "query": "SELECT 40 + 2 AS answer",
                "warehouse_id": "local",
                "max_retries": 0,
            }
        ],
    }
    created = lockgate.api.post("/api/v1/workflows", json=workflow)
    assert created.status_code == 201, created.text
    assert any("SQL text" in w["message"] for w in created.json()["warnings"])
    [path] = created.json()["workspace_files"]
    lockgate.start_worker()

    started = lockgate.api.post("/api/v1/workflows/sql-inline/runs", json={})
    assert started.status_code == 202, started.text
    run = lockgate.wait_for_run(started.json()["event_id"], ended)

    assert run["status"] == "succeeded", run
    exported = lockgate.backend.get("/api/2.0/workspace/export", params={"path": path})
    assert exported.status_code == 200, exported.text
    task = lockgate.backend.get(
        "/api/2.2/jobs/runs/get", params={"run_id": run["databricks_run_id"]}
    ).json()["tasks"][0]
    assert task["sql_task"]["file"]["path"] == path
    output = lockgate.backend.get(
        "/api/2.2/jobs/runs/get-output", params={"run_id": task["run_id"]}
    ).json()
    assert "42" in str(output["sql_output"])

"""A job edited in the workspace after Lockgate deployed it is reported as drift."""

from __future__ import annotations

from tests.e2e.conftest import Lockgate, ended
from tests.e2e.test_webhook_to_run import _notebook


def test_a_job_edited_in_the_workspace_is_reported(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/ok", "dbutils.notebook.exit('ok')")
    workflow = {
        "name": "drifty",
        "timeout_seconds": 600,
        "tasks": [
            {"task_key": "t", "type": "notebook", "notebook_path": "/Tests/ok", "max_retries": 0}
        ],
    }
    assert lockgate.api.post("/api/v1/workflows", json=workflow).status_code == 201
    assert lockgate.api.get("/api/v1/workflows/drifty/drift").status_code == 409  # not deployed

    lockgate.start_worker()
    started = lockgate.api.post("/api/v1/workflows/drifty/runs", json={})
    run = lockgate.wait_for_run(started.json()["event_id"], ended)
    assert run["status"] == "succeeded"
    clean = lockgate.api.get("/api/v1/workflows/drifty/drift").json()
    assert clean["drifted"] is False and clean["differences"] == []

    job_id = run["databricks_job_id"]
    job = lockgate.backend.get("/api/2.2/jobs/get", params={"job_id": job_id}).json()
    edited = {**job["settings"], "timeout_seconds": 60}
    edited["tasks"][0]["timeout_seconds"] = 5
    reset = lockgate.backend.post(
        "/api/2.2/jobs/reset", json={"job_id": job_id, "new_settings": edited}
    )
    assert reset.status_code == 200, reset.text

    drift = lockgate.api.get("/api/v1/workflows/drifty/drift").json()
    assert drift["drifted"] is True
    assert {d["path"]: (d["expected"], d["actual"]) for d in drift["differences"]} == {
        "$.timeout_seconds": (600, 60),
        "$.tasks[task_key=t].timeout_seconds": (3600, 5),
    }

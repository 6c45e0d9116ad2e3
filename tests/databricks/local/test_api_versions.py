"""``/api/2.1/jobs`` and ``/api/2.2/jobs`` differ as on a workspace: queueing is on by
default only for jobs created with 2.2, and only 2.2 pages arrays at 100 items."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.databricks.local.conftest import (
    WAIT_FOR_RELEASE,
    Jobs,
    notebook_task,
    task_states,
)


def call(api: httpx.Client, version: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    response = api.request(method, f"/api/{version}/jobs/{path}", **kwargs)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_api_2_1_returns_every_task_and_2_2_pages_them(api: httpx.Client, jobs: Jobs) -> None:
    tasks = [
        {"task_key": f"t{index:03}", "disabled": True, "notebook_task": {"notebook_path": "/x"}}
        for index in range(120)
    ]
    cluster = {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2"}
    clusters = [{"job_cluster_key": f"c{index:03}", "new_cluster": cluster} for index in range(105)]
    name = f"wide-{uuid.uuid4()}"
    body = {"name": name, "tasks": tasks, "job_clusters": clusters}
    job_id = call(api, "2.1", "POST", "create", json=body)["job_id"]

    whole = call(api, "2.1", "GET", "get", params={"job_id": job_id})
    assert [t["task_key"] for t in whole["settings"]["tasks"]] == [t["task_key"] for t in tasks]
    assert len(whole["settings"]["job_clusters"]) == 105
    assert "has_more" not in whole and "next_page_token" not in whole

    first = call(api, "2.2", "GET", "get", params={"job_id": job_id})
    assert len(first["settings"]["tasks"]) == 100 and first["has_more"] is True
    assert len(first["settings"]["job_clusters"]) == 100
    rest = call(
        api, "2.2", "GET", "get", params={"job_id": job_id, "page_token": first["next_page_token"]}
    )
    assert [t["task_key"] for t in rest["settings"]["tasks"]] == [
        f"t{index:03}" for index in range(100, 120)
    ]
    assert [c["job_cluster_key"] for c in rest["settings"]["job_clusters"]] == [
        f"c{index:03}" for index in range(100, 105)
    ]
    assert "has_more" not in rest and "next_page_token" not in rest

    run_id = call(api, "2.1", "POST", "run-now", json={"job_id": job_id})["run_id"]
    jobs.wait(run_id)
    run = call(api, "2.1", "GET", "runs/get", params={"run_id": run_id})
    assert len(run["tasks"]) == 120 and "next_page_token" not in run
    assert {t["state"]["result_state"] for t in run["tasks"]} == {"DISABLED"}
    listed = call(api, "2.1", "GET", "runs/list", params={"job_id": job_id, "expand_tasks": True})
    assert len(listed["runs"][0]["tasks"]) == 120
    paged = call(api, "2.2", "GET", "runs/list", params={"job_id": job_id, "expand_tasks": True})
    assert len(paged["runs"][0]["tasks"]) == 100 and paged["runs"][0]["has_more"] is True
    expanded = call(api, "2.2", "GET", "list", params={"name": name, "expand_tasks": True})
    assert {len(job["settings"]["tasks"]) for job in expanded["jobs"]} == {100}


def test_a_2_1_job_without_queue_skips_runs_over_its_limit(
    api: httpx.Client, jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    gated = notebook("gated", WAIT_FOR_RELEASE)
    task = notebook_task("t", gated, params={"gate_dir": str(tmp_path), "name": "t"})
    job_id = call(api, "2.1", "POST", "create", json={"name": "old", "tasks": [task]})["job_id"]
    for version in ("2.1", "2.2"):  # the setting belongs to the job, whoever reads it
        settings = call(api, version, "GET", "get", params={"job_id": job_id})["settings"]
        assert settings["queue"] == {"enabled": False}
        assert settings["max_concurrent_runs"] == 1

    first = call(api, "2.1", "POST", "run-now", json={"job_id": job_id})["run_id"]
    jobs.wait_until(first, lambda run: task_states(run)["t"] == "RUNNING")
    second = call(api, "2.2", "POST", "run-now", json={"job_id": job_id})["run_id"]
    skipped = jobs.get(second)  # SKIPPED at once: no waiting
    assert skipped["state"] == {
        "life_cycle_state": "SKIPPED",
        "result_state": "MAXIMUM_CONCURRENT_RUNS_REACHED",
        "state_message": "Skipping this run because the limit of 1 maximum concurrent runs "
        "has been reached.",
        "user_cancelled_or_timedout": False,
    }
    assert skipped["status"] == {
        "state": "TERMINATED",
        "termination_details": {
            "code": "MAX_CONCURRENT_RUNS_EXCEEDED",
            "type": "CLIENT_ERROR",
            "message": skipped["state"]["state_message"],
        },
    }
    assert skipped["end_time"] >= skipped["start_time"] > 0
    assert skipped["queue_duration"] == 0 and "queue_reason" not in skipped["state"]

    # run-now queue.enabled overrides the job's setting for that run.
    third = jobs.run_now(job_id, queue={"enabled": True})
    assert jobs.get(third)["state"]["life_cycle_state"] == "QUEUED"
    # A 2.1 job that asks for the queue gets it; a 2.2 job queues by default.
    asked = call(api, "2.1", "POST", "create", json={"tasks": [task], "queue": {"enabled": True}})[
        "job_id"
    ]
    modern = jobs.create(task)
    later = [first, third]
    for queueing_job in (asked, modern):
        running = jobs.run_now(queueing_job)
        jobs.wait_until(running, lambda run: task_states(run)["t"] == "RUNNING")
        queued = jobs.run_now(queueing_job)
        assert jobs.get(queued)["state"]["life_cycle_state"] == "QUEUED"
        later += [running, queued]

    (tmp_path / "release").write_text("go")
    assert [jobs.wait(run_id)["state"]["result_state"] for run_id in later] == ["SUCCESS"] * 6

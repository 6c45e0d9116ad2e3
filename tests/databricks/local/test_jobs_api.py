"""The Jobs REST surface of the local backend: idempotency, listing, paging, errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databricks.local.conftest import (
    TOKEN,
    WAIT_FOR_RELEASE,
    Jobs,
    RunningBackend,
    notebook_task,
    start_backend,
    task_states,
)


def test_idempotency_token_returns_the_existing_run(
    jobs: Jobs, notebook: Callable[..., str]
) -> None:
    job_id = jobs.create(notebook_task("t", notebook("ok", "print('ok')")))
    token = f"lockgate-{uuid.uuid4()}"
    first = jobs.call("POST", "run-now", json={"job_id": job_id, "idempotency_token": token})
    again = jobs.call("POST", "run-now", json={"job_id": job_id, "idempotency_token": token})
    assert again == first == {"run_id": first["run_id"], "number_in_job": first["run_id"]}
    # Same token, other parameters: a conflict (issue 4; a real workspace returns the run).
    other = jobs.client.post(
        "/api/2.2/jobs/run-now",
        json={"job_id": job_id, "idempotency_token": token, "notebook_params": {"x": "y"}},
    )
    assert other.status_code == 409
    assert other.json()["error_code"] == "RESOURCE_CONFLICT"
    assert str(first["run_id"]) in other.json()["message"]
    jobs.wait(first["run_id"])
    listed = jobs.call("GET", "runs/list", params={"job_id": job_id})
    assert [run["run_id"] for run in listed["runs"]] == [first["run_id"]]

    submit = {
        "run_name": "one-off",
        "idempotency_token": f"submit-{uuid.uuid4()}",
        "tasks": [notebook_task("t", notebook("ok2", "print('ok')"))],
    }
    submitted = jobs.call("POST", "runs/submit", json=submit)
    assert jobs.call("POST", "runs/submit", json=submit) == submitted
    run = jobs.wait(submitted["run_id"])
    assert run["run_type"] == "SUBMIT_RUN"
    assert run["run_name"] == "one-off"
    assert "job_id" not in run

    too_long = jobs.client.post(
        "/api/2.2/jobs/run-now", json={"job_id": job_id, "idempotency_token": "x" * 65}
    )
    assert too_long.status_code == 400
    assert too_long.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_runs_list_filters_and_pages_newest_first(
    jobs: Jobs, notebook: Callable[..., str], tmp_path: Path
) -> None:
    quick = notebook("quick", "print('ok')")
    gated = notebook("gated", WAIT_FOR_RELEASE)
    job_id = jobs.create(
        notebook_task("t", quick), max_concurrent_runs=10, name=f"listing-{uuid.uuid4()}"
    )
    before = int(time.time() * 1000)
    finished = [jobs.run_now(job_id) for _ in range(5)]
    for run_id in finished:
        jobs.wait(run_id)
    # A run of another job that stays active until the test releases it.
    gated_job = jobs.create(notebook_task("t", gated), name="gated")
    active = jobs.run_now(gated_job, notebook_params={"gate_dir": str(tmp_path), "name": "t"})
    jobs.wait_until(active, lambda run: task_states(run)["t"] == "RUNNING")

    def list_ids(**params: Any) -> list[int]:
        return [
            run["run_id"] for run in jobs.call("GET", "runs/list", params=params).get("runs", [])
        ]

    all_of_job = list_ids(job_id=job_id, limit=25)
    assert len(all_of_job) == 5
    assert all_of_job == sorted(all_of_job, reverse=True)  # newest first

    paged: list[int] = []
    token = None
    pages = 0
    while True:
        params: dict[str, Any] = {"job_id": job_id, "limit": 2}
        if token:
            params["page_token"] = token
        page = jobs.call("GET", "runs/list", params=params)
        paged += [run["run_id"] for run in page["runs"]]
        pages += 1
        if not page["has_more"]:
            assert "next_page_token" not in page
            break
        token = page["next_page_token"]
    assert paged == all_of_job
    assert pages == 3

    assert list_ids(job_id=gated_job, active_only="true") == [active]
    assert list_ids(job_id=gated_job, completed_only="true") == []
    assert list_ids(job_id=job_id, completed_only="true") == all_of_job
    assert active in list_ids(active_only="true")
    assert set(list_ids(job_id=job_id, start_time_from=before)) == set(all_of_job)
    assert list_ids(job_id=job_id, start_time_to=before - 1) == []
    assert list_ids(job_id=job_id, run_type="SUBMIT_RUN") == []

    expanded = jobs.call("GET", "runs/list", params={"job_id": gated_job, "expand_tasks": "true"})
    assert expanded["runs"][0]["tasks"][0]["state"]["life_cycle_state"] == "RUNNING"
    plain = jobs.call("GET", "runs/list", params={"job_id": gated_job})
    assert "tasks" not in plain["runs"][0]

    (tmp_path / "release").write_text("go")
    jobs.wait(active)
    assert list_ids(job_id=gated_job, active_only="true") == []


def test_jobs_get_list_reset_delete(jobs: Jobs, notebook: Callable[..., str]) -> None:
    ok = notebook("ok", "print('ok')")
    name = f"Crud-{uuid.uuid4()}"
    job_id = jobs.create(
        notebook_task("a", ok),
        name=name,
        parameters=[{"name": "env", "default": "dev"}],
        tags={"team": "data"},
    )
    job = jobs.call("GET", "get", params={"job_id": job_id})
    assert job["job_id"] == job_id
    assert job["settings"]["name"] == name
    assert job["settings"]["tasks"][0]["task_key"] == "a"
    assert job["settings"]["max_concurrent_runs"] == 1
    assert job["settings"]["tags"] == {"team": "data"}

    found = jobs.call("GET", "list", params={"name": name.upper()})
    assert [j["job_id"] for j in found["jobs"]] == [job_id]
    assert "tasks" not in found["jobs"][0]["settings"]
    expanded = jobs.call("GET", "list", params={"name": name, "expand_tasks": "true"})
    assert expanded["jobs"][0]["settings"]["tasks"][0]["task_key"] == "a"

    new_settings = {"name": name, "tasks": [notebook_task("b", ok)]}
    jobs.call("POST", "reset", json={"job_id": job_id, "new_settings": new_settings})
    tasks = jobs.call("GET", "get", params={"job_id": job_id})["settings"]["tasks"]
    assert [task["task_key"] for task in tasks] == ["b"]

    jobs.call(
        "POST",
        "update",
        json={"job_id": job_id, "new_settings": {"tasks": [notebook_task("c", ok)]}},
    )
    tasks = jobs.call("GET", "get", params={"job_id": job_id})["settings"]["tasks"]
    assert [task["task_key"] for task in tasks] == ["b", "c"]

    jobs.call("POST", "delete", json={"job_id": job_id})
    gone = jobs.client.get("/api/2.2/jobs/get", params={"job_id": job_id})
    assert gone.status_code == 400
    assert gone.json() == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": f"Job {job_id} does not exist.",
    }


def test_both_api_versions_are_served(api: httpx.Client, notebook: Callable[..., str]) -> None:
    body = {"name": "v21", "tasks": [notebook_task("t", notebook("ok", "print(1)"))]}
    job_id = api.post("/api/2.1/jobs/create", json=body).json()["job_id"]
    assert api.get("/api/2.2/jobs/get", params={"job_id": job_id}).status_code == 200
    assert api.get("/api/2.1/jobs/get", params={"job_id": job_id}).status_code == 200


def _task(**fields: Any) -> dict[str, Any]:
    return {"task_key": "t", "notebook_task": {"notebook_path": "/x"}, **fields}


@pytest.mark.parametrize(
    ("path", "body", "error_code", "message_part"),
    [
        (
            "create",
            {"tasks": [{"task_key": "t"}]},
            "INVALID_PARAMETER_VALUE",
            "tasks[0]: ",
        ),
        ("create", {"tasks": [_task(), _task()]}, "INVALID_PARAMETER_VALUE", "unique"),
        (
            "create",
            {"tasks": [_task(depends_on=[{"task_key": "nope"}])]},
            "INVALID_PARAMETER_VALUE",
            "tasks[0].depends_on[0].task_key: ",
        ),
        (
            "create",
            {
                "tasks": [
                    {**_task(depends_on=[{"task_key": "u"}])},
                    {**_task(task_key="u", depends_on=[{"task_key": "t"}])},
                ]
            },
            "INVALID_PARAMETER_VALUE",
            "cycle",
        ),
        (
            "create",
            {"tasks": [_task(max_retries="lots")]},
            "INVALID_PARAMETER_VALUE",
            "tasks[0].max_retries",
        ),
        ("create", {"tasks": [_task(run_if="SOMETIMES")]}, "INVALID_PARAMETER_VALUE", "run_if"),
        (
            "create",
            {"tasks": [_task(job_cluster_key="nope")]},
            "INVALID_PARAMETER_VALUE",
            "job_clusters",
        ),
        (
            "create",
            {"tasks": "not a list"},
            "INVALID_PARAMETER_VALUE",
            "tasks: ",
        ),
        ("run-now", {}, "INVALID_PARAMETER_VALUE", "job_id is required"),
        ("run-now", {"job_id": 1}, "INVALID_PARAMETER_VALUE", "Job 1 does not exist."),
        ("runs/submit", {"tasks": []}, "INVALID_PARAMETER_VALUE", "tasks: "),
        ("runs/cancel", {"run_id": 7}, "INVALID_PARAMETER_VALUE", "Run 7 does not exist."),
        ("delete", {"job_id": "abc"}, "INVALID_PARAMETER_VALUE", "job_id must be an integer"),
    ],
)
def test_bad_posts_get_databricks_errors(
    api: httpx.Client, path: str, body: dict[str, Any], error_code: str, message_part: str
) -> None:
    response = api.post(f"/api/2.2/jobs/{path}", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == error_code
    # Messages lead with the JSON path of what was wrong (the spec model words the rest).
    assert message_part in response.json()["message"]


@pytest.mark.parametrize(
    ("path", "params", "message_part"),
    [
        ("runs/get", {"run_id": 7}, "Run 7 does not exist."),
        ("runs/get", {"run_id": "seven"}, "run_id"),
        ("runs/get", {}, "run_id"),
        ("runs/list", {"active_only": "true", "completed_only": "true"}, "cannot both"),
        ("runs/list", {"limit": 26}, "between 1 and 25"),
        ("runs/list", {"limit": -1}, "between 1 and 25"),
        ("runs/list", {"run_type": "NOPE"}, "run_type"),
        ("runs/list", {"page_token": "garbage"}, "page_token"),
        ("list", {"limit": 101}, "between 1 and 100"),
        ("runs/get-output", {"run_id": 7}, "Run 7 does not exist."),
    ],
)
def test_bad_gets_get_databricks_errors(
    api: httpx.Client, path: str, params: dict[str, Any], message_part: str
) -> None:
    response = api.get(f"/api/2.2/jobs/{path}", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert message_part in response.json()["message"]


def test_malformed_requests_auth_and_unknown_endpoints(
    api: httpx.Client, local_backend: RunningBackend, jobs: Jobs, notebook: Callable[..., str]
) -> None:
    not_json = api.post("/api/2.2/jobs/create", content=b"{not json")
    assert (not_json.status_code, not_json.json()["error_code"]) == (400, "MALFORMED_REQUEST")
    array = api.post("/api/2.2/jobs/create", json=[1, 2])
    assert (array.status_code, array.json()["error_code"]) == (400, "MALFORMED_REQUEST")

    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = httpx.get(f"{local_backend.url}/api/2.2/jobs/list", headers=headers)
        assert response.status_code == 401
        assert response.json()["error_code"] == "UNAUTHENTICATED"

    unknown = api.get("/api/2.2/jobs/frobnicate")
    assert unknown.status_code == 404
    assert unknown.json()["error_code"] == "ENDPOINT_NOT_FOUND"
    wrong_method = api.get("/api/2.2/jobs/create")
    assert (wrong_method.status_code, wrong_method.json()["error_code"]) == (
        404,
        "ENDPOINT_NOT_FOUND",
    )

    job_id = jobs.create(
        notebook_task("a", notebook("a", "print(1)")),
        notebook_task("b", notebook("b", "print(2)")),
        parameters=[{"name": "env", "default": "dev"}],
    )
    undeclared = api.post(
        "/api/2.2/jobs/run-now", json={"job_id": job_id, "job_parameters": {"nope": "1"}}
    )
    assert undeclared.status_code == 400
    assert "nope" in undeclared.json()["message"]
    run = jobs.wait(jobs.run_now(job_id))
    multi = api.get("/api/2.2/jobs/runs/get-output", params={"run_id": run["run_id"]})
    assert multi.status_code == 400
    assert "multiple tasks" in multi.json()["message"]


def test_update_merges_arrays_by_key_and_removes_fields(
    jobs: Jobs, notebook: Callable[..., str]
) -> None:
    ok = notebook("ok", "print('ok')")
    job_id = jobs.create(
        notebook_task("a", ok),
        notebook_task("b", ok),
        notebook_task("c", ok, depends_on=("a",)),
        tags={"team": "data"},
        description="kept",
        max_concurrent_runs=3,
    )
    jobs.call(
        "POST",
        "update",
        json={
            "job_id": job_id,
            "new_settings": {"max_concurrent_runs": 5, "tasks": [notebook_task("d", ok)]},
            "fields_to_remove": ["tags", "tasks/b"],
        },
    )
    settings = jobs.call("GET", "get", params={"job_id": job_id})["settings"]
    assert [task["task_key"] for task in settings["tasks"]] == ["a", "c", "d"]
    assert "tags" not in settings
    assert (settings["description"], settings["max_concurrent_runs"]) == ("kept", 5)

    # Removing a task another one depends on leaves a dangling dependency: refused whole.
    dangling = jobs.client.post(
        "/api/2.2/jobs/update",
        json={"job_id": job_id, "fields_to_remove": ["tasks/a", "description"]},
    )
    assert dangling.status_code == 400
    assert dangling.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    message = dangling.json()["message"]
    assert message.startswith("the job's settings after this update: tasks[0].depends_on[0]")
    assert "'a'" in message
    settings = jobs.call("GET", "get", params={"job_id": job_id})["settings"]
    assert [task["task_key"] for task in settings["tasks"]] == ["a", "c", "d"]
    assert settings["description"] == "kept"


def test_jobs_list_pages_both_ways(jobs: Jobs) -> None:
    name = f"paged-{uuid.uuid4()}"
    task = {"task_key": "t", "disabled": True, "notebook_task": {"notebook_path": "/x"}}
    job_ids = [jobs.create(task, name=name) for _ in range(5)]

    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"name": name, "limit": 2}
    while True:
        page = jobs.call("GET", "list", params=params)
        pages.append(page)
        if "next_page_token" not in page:
            break
        params["page_token"] = page["next_page_token"]
    assert [[job["job_id"] for job in page["jobs"]] for page in pages] == [
        job_ids[0:2],
        job_ids[2:4],
        job_ids[4:5],
    ]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert "prev_page_token" not in pages[0]
    assert all("prev_page_token" in page for page in pages[1:])

    back = jobs.call(
        "GET", "list", params={"name": name, "limit": 2, "page_token": pages[2]["prev_page_token"]}
    )
    assert [job["job_id"] for job in back["jobs"]] == job_ids[2:4]
    assert back["has_more"] is True and "prev_page_token" in back
    first = jobs.call(
        "GET", "list", params={"name": name, "limit": 2, "page_token": back["prev_page_token"]}
    )
    assert [job["job_id"] for job in first["jobs"]] == job_ids[0:2]
    assert "prev_page_token" not in first


def test_reused_token_returns_the_existing_run_in_real_workspace_mode(
    tmp_path: Path,
) -> None:
    """``reject_reused_idempotency_tokens=False``: what a real workspace does (notes)."""
    with (
        start_backend(tmp_path, reject_reused_idempotency_tokens=False) as backend,
        httpx.Client(
            base_url=backend.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as client,
    ):
        jobs = Jobs(client)
        notebook = backend.config.workspace_dir / "ok.py"
        notebook.parent.mkdir(parents=True, exist_ok=True)
        notebook.write_text("# Databricks notebook source\nprint('ok')\n")
        job_id = jobs.create(notebook_task("t", "/ok"))
        token = f"lockgate-{uuid.uuid4()}"
        first = jobs.call("POST", "run-now", json={"job_id": job_id, "idempotency_token": token})
        other = jobs.call(
            "POST",
            "run-now",
            json={"job_id": job_id, "idempotency_token": token, "notebook_params": {"x": "y"}},
        )
        assert other == first  # no conflict, no second run
        run = jobs.wait(first["run_id"])
        assert "overriding_parameters" not in run  # the first request's parameters

        submit = {
            "run_name": "once",
            "idempotency_token": token + "-s",
            "tasks": [notebook_task("t", "/ok")],
        }
        submitted = jobs.call("POST", "runs/submit", json=submit)
        again = jobs.call("POST", "runs/submit", json={**submit, "run_name": "twice"})
        assert again == submitted
        assert jobs.wait(submitted["run_id"])["run_name"] == "once"
        listed = jobs.call("GET", "runs/list", params={"job_id": job_id})
        assert [item["run_id"] for item in listed["runs"]] == [first["run_id"]]

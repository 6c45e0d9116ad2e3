"""Each client method against the fixture server: the request it sends and what it returns."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from pydantic import SecretStr

from service.databricks import (
    DatabricksClient,
    LifeCycleState,
    MalformedResponse,
    PatAuth,
    ResultState,
)
from service.settings import Settings
from tests.databricks.conftest import TEST_TOKEN, FixtureServer, RecordedRequest, Reply, recorded

MakeClient = Callable[..., DatabricksClient]


def only(server: FixtureServer, method: str, path: str) -> RecordedRequest:
    requests = server.received(method, path)
    assert len(requests) == 1, requests
    return requests[0]


def test_create_job_posts_the_settings_and_returns_the_job_id(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("POST", "/api/2.2/jobs/create", Reply(body=recorded("jobs_create.json")))
    settings = recorded("jobs_get.json")["settings"]

    assert make_client().create_job(settings) == 11223344

    request = only(server, "POST", "/api/2.2/jobs/create")
    assert request.json == settings
    assert request.headers["content-type"] == "application/json"


def test_reset_job_sends_new_settings(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("POST", "/api/2.2/jobs/reset", Reply(body={}))
    make_client().reset_job(11223344, {"name": "renamed"})
    request = only(server, "POST", "/api/2.2/jobs/reset")
    assert request.json == {"job_id": 11223344, "new_settings": {"name": "renamed"}}


def test_get_job_returns_the_job(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", "/api/2.2/jobs/get", Reply(body=recorded("jobs_get.json")))
    job = make_client().get_job(11223344)
    assert job["settings"]["name"] == "nightly-orders"
    assert only(server, "GET", "/api/2.2/jobs/get").query == {"job_id": "11223344"}


def test_get_job_follows_task_pages(server: FixtureServer, make_client: MakeClient) -> None:
    # API 2.2 returns at most 100 tasks per response; the rest come through page_token.
    first = recorded("jobs_get.json")
    tasks = first["settings"]["tasks"]
    first_page = {
        **first,
        "settings": {**first["settings"], "tasks": tasks[:1]},
        "has_more": True,
        "next_page_token": "p2",
    }
    second_page = {"job_id": first["job_id"], "settings": {"tasks": tasks[1:]}}

    def pages(request: RecordedRequest) -> Reply:
        return Reply(body=second_page if request.query.get("page_token") == "p2" else first_page)

    server.on("GET", "/api/2.2/jobs/get", pages)
    job = make_client().get_job(11223344)

    assert [t["task_key"] for t in job["settings"]["tasks"]] == ["ingest", "transform"]
    assert job["settings"]["parameters"] == first["settings"]["parameters"]
    assert "next_page_token" not in job and job["has_more"] is False
    assert [r.query.get("page_token") for r in server.received("GET", "/api/2.2/jobs/get")] == [
        None,
        "p2",
    ]


def test_list_jobs_sends_filters_and_returns_a_page(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("GET", "/api/2.2/jobs/list", Reply(body=recorded("jobs_list.json")))
    page = make_client().list_jobs(name="nightly-orders", limit=50, page_token="tok")
    assert [j["job_id"] for j in page.jobs] == [11223344, 11223345]
    assert page.next_page_token == "CAEQ0u2bwKMy"
    assert only(server, "GET", "/api/2.2/jobs/list").query == {
        "name": "nightly-orders",
        "limit": "50",
        "page_token": "tok",
    }


def test_list_jobs_last_page_has_no_token(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", "/api/2.2/jobs/list", Reply(body={"has_more": False}))
    page = make_client().list_jobs()
    assert page.jobs == [] and page.next_page_token is None
    assert only(server, "GET", "/api/2.2/jobs/list").query == {"limit": "100"}


def test_delete_job(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("POST", "/api/2.2/jobs/delete", Reply(body={}))
    make_client().delete_job(5)
    assert only(server, "POST", "/api/2.2/jobs/delete").json == {"job_id": 5}


def test_run_now_sends_token_and_parameters(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("POST", "/api/2.2/jobs/run-now", Reply(body=recorded("jobs_run_now.json")))
    run_id = make_client().run_now(
        11223344,
        idempotency_token="run-42-attempt-1",
        job_parameters={"date": "2025-01-02"},
        notebook_params={"mode": "full"},
        python_params=("--verbose",),
    )
    assert run_id == 455644833
    assert only(server, "POST", "/api/2.2/jobs/run-now").json == {
        "job_id": 11223344,
        "idempotency_token": "run-42-attempt-1",
        "job_parameters": {"date": "2025-01-02"},
        "notebook_params": {"mode": "full"},
        "python_params": ["--verbose"],
    }


def test_run_now_leaves_out_unset_parameters(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("POST", "/api/2.2/jobs/run-now", Reply(body={"run_id": 9}))
    make_client().run_now(1, idempotency_token="t")
    assert only(server, "POST", "/api/2.2/jobs/run-now").json == {
        "job_id": 1,
        "idempotency_token": "t",
    }


@pytest.mark.parametrize("token", ["", "x" * 65])
def test_idempotency_token_must_fit_databricks_limit(
    server: FixtureServer, make_client: MakeClient, token: str
) -> None:
    client = make_client()
    with pytest.raises(ValueError, match="idempotency_token"):
        client.run_now(1, idempotency_token=token)
    with pytest.raises(ValueError, match="idempotency_token"):
        client.submit_run({"tasks": []}, idempotency_token=token)
    assert server.requests == []


def test_submit_run_adds_the_idempotency_token(
    server: FixtureServer, make_client: MakeClient
) -> None:
    server.on("POST", "/api/2.2/jobs/runs/submit", Reply(body=recorded("runs_submit.json")))
    payload = {
        "run_name": "lockgate-run-7f3c",
        "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/etl/main"}}],
    }
    assert make_client().submit_run(payload, idempotency_token="run-7f3c-1") == 455700010
    assert only(server, "POST", "/api/2.2/jobs/runs/submit").json == {
        **payload,
        "idempotency_token": "run-7f3c-1",
    }


def test_submit_run_refuses_a_conflicting_token_in_the_payload(
    server: FixtureServer, make_client: MakeClient
) -> None:
    with pytest.raises(ValueError, match="different idempotency_token"):
        make_client().submit_run({"idempotency_token": "a"}, idempotency_token="b")
    assert server.requests == []


def test_get_run_parses_the_run(server: FixtureServer, make_client: MakeClient) -> None:
    server.on(
        "GET", "/api/2.2/jobs/runs/get", Reply(body=recorded("runs_get_failed_multitask.json"))
    )
    run = make_client().get_run(455644833)
    assert run.run_id == 455644833
    assert run.result_state is ResultState.FAILED
    assert [t.task_key for t in run.tasks] == ["ingest", "transform"]
    assert only(server, "GET", "/api/2.2/jobs/runs/get").query == {
        "run_id": "455644833",
        "include_history": "true",
    }


def test_get_run_fetches_tasks_past_the_first_page(
    server: FixtureServer, make_client: MakeClient
) -> None:
    full = recorded("runs_get_failed_multitask.json")
    first_page = {**full, "tasks": full["tasks"][:1], "has_more": True, "next_page_token": "t2"}
    second_page = {"run_id": full["run_id"], "tasks": full["tasks"][1:], "has_more": False}

    def pages(request: RecordedRequest) -> Reply:
        return Reply(body=second_page if request.query.get("page_token") == "t2" else first_page)

    server.on("GET", "/api/2.2/jobs/runs/get", pages)
    run = make_client().get_run(full["run_id"])
    assert [t.task_key for t in run.tasks] == ["ingest", "transform"]
    assert run.has_more_tasks is False
    assert len(server.received("GET", "/api/2.2/jobs/runs/get")) == 2


def test_list_runs_sends_every_filter(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", "/api/2.2/jobs/runs/list", Reply(body=recorded("runs_list_active.json")))
    page = make_client().list_runs(
        active_only=True,
        job_id=11223344,
        limit=10,
        page_token="abc",
        start_time_from=1735689600000,
        start_time_to=1735776000000,
        run_type="SUBMIT_RUN",
    )
    assert only(server, "GET", "/api/2.2/jobs/runs/list").query == {
        "active_only": "true",
        "job_id": "11223344",
        "limit": "10",
        "page_token": "abc",
        "expand_tasks": "true",
        "start_time_from": "1735689600000",
        "start_time_to": "1735776000000",
        "run_type": "SUBMIT_RUN",
    }
    assert page.next_page_token == "CAEomPuciYcxMKbM9JvMlwU="
    assert [r.life_cycle_state for r in page.runs] == [
        LifeCycleState.RUNNING,
        LifeCycleState.QUEUED,
    ]
    assert [t.task_key for t in page.runs[0].tasks] == ["ingest", "transform"]


def test_list_runs_defaults(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("GET", "/api/2.2/jobs/runs/list", Reply(body={"has_more": False}))
    page = make_client().list_runs(completed_only=True, expand_tasks=False)
    assert page.runs == [] and page.next_page_token is None
    assert only(server, "GET", "/api/2.2/jobs/runs/list").query == {
        "completed_only": "true",
        "limit": "25",
        "expand_tasks": "false",
    }


@pytest.mark.parametrize(
    "kwargs",
    [{"active_only": True, "completed_only": True}, {"limit": 0}, {"limit": 26}],
)
def test_list_runs_rejects_what_databricks_would(
    server: FixtureServer, make_client: MakeClient, kwargs: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        make_client().list_runs(**kwargs)  # type: ignore[arg-type]
    assert server.requests == []


def test_cancel_run(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("POST", "/api/2.2/jobs/runs/cancel", Reply(body={}))
    make_client().cancel_run(455700001)
    assert only(server, "POST", "/api/2.2/jobs/runs/cancel").json == {"run_id": 455700001}


def test_get_run_output(server: FixtureServer, make_client: MakeClient) -> None:
    server.on(
        "GET", "/api/2.2/jobs/runs/get-output", Reply(body=recorded("runs_get_output_failed.json"))
    )
    output = make_client().get_run_output(455644835)
    assert output.error == "ZeroDivisionError: division by zero"
    assert only(server, "GET", "/api/2.2/jobs/runs/get-output").query == {"run_id": "455644835"}


@pytest.mark.parametrize(
    "reply",
    [
        Reply(body=b"<html>proxy error page</html>"),
        Reply(body=[1, 2]),
        Reply(body={"job_id": "not-a-number"}),
    ],
)
def test_a_success_with_the_wrong_body_is_malformed(
    server: FixtureServer, make_client: MakeClient, reply: Reply
) -> None:
    server.on("POST", "/api/2.2/jobs/create", reply)
    with pytest.raises(MalformedResponse) as info:
        make_client().create_job({"name": "x"})
    assert info.value.path == "/api/2.2/jobs/create" and info.value.status == 200


def test_user_agent_names_lockgate(server: FixtureServer, make_client: MakeClient) -> None:
    server.on("POST", "/api/2.2/jobs/runs/cancel", Reply(body={}))
    make_client(user_agent="lockgate/9.9 worker").cancel_run(1)
    assert only(server, "POST", "/api/2.2/jobs/runs/cancel").headers["user-agent"] == (
        "lockgate/9.9 worker"
    )


@pytest.mark.parametrize("suffix", ["", "/", "//"])
def test_base_url_may_end_with_slashes(
    server: FixtureServer, make_client: MakeClient, suffix: str
) -> None:
    server.on("POST", "/api/2.2/jobs/runs/cancel", Reply(body={}))
    make_client(url=server.url + suffix).cancel_run(1)
    assert len(server.received("POST", "/api/2.2/jobs/runs/cancel")) == 1


def test_one_info_line_per_call_without_headers(
    server: FixtureServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    server.on(
        "GET", "/api/2.2/jobs/runs/get", Reply(body=recorded("runs_get_failed_multitask.json"))
    )
    client = make_client()
    with caplog.at_level(logging.DEBUG, logger="service.databricks"):
        client.get_run(455644833)
    lines = [r for r in caplog.records if r.name == "service.databricks.client"]
    assert len(lines) == 1
    assert lines[0].levelno == logging.INFO
    message = lines[0].getMessage()
    assert message.startswith("GET /api/2.2/jobs/runs/get -> 200 (")
    assert message.endswith(" ms)")
    assert TEST_TOKEN not in message and "Bearer" not in message


def test_from_settings_uses_the_configured_host_token_and_timeout(server: FixtureServer) -> None:
    server.on("POST", "/api/2.2/jobs/runs/cancel", Reply(body={}))
    settings = Settings(
        databricks_host=server.url,
        databricks_token=SecretStr("dapi-from-settings"),
        databricks_timeout_seconds=7.5,
    )
    with DatabricksClient.from_settings(settings) as client:
        client.cancel_run(3)
        assert client._http.timeout.read == 7.5
    request = only(server, "POST", "/api/2.2/jobs/runs/cancel")
    assert request.headers["authorization"] == "Bearer dapi-from-settings"


def test_close_closes_the_connection_pool(server: FixtureServer) -> None:
    client = DatabricksClient(server.url, PatAuth(TEST_TOKEN))
    with client:
        pass
    assert client._http.is_closed

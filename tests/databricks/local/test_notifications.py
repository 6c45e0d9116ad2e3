"""Notification destinations and job webhook notifications on the local backend.

Destinations are managed over HTTP and through the databricks-sdk; runs post Databricks'
job webhook payloads to a real HTTP receiver, with Basic auth, right after each state
change. Times are compared with the run's own start/end times (same machine clock).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.errors import NotFound
from databricks.sdk.service import settings as sdk_settings

from tests.databricks.local.conftest import (
    TOKEN,
    WAIT_FOR_RELEASE,
    Jobs,
    RunningBackend,
    notebook_task,
    start_backend,
    task_of,
)
from tests.servers import HttpReceiver, free_port, http_receiver

DESTINATIONS = "/api/2.0/notification-destinations"
WORKSPACE_ID = "1234567890123456"  # LocalBackendConfig's default
# A notice must be out well within Lockgate's 2 s budget for noticing a run's end.
NOTICE_WITHIN_SECONDS = 1.0

MakeDestination = Callable[..., str]


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as running:
        yield running


@pytest.fixture
def make_destination(api: httpx.Client) -> Iterator[MakeDestination]:
    """make_destination(url, username=None, password=None) -> id; deleted afterwards."""
    made: list[str] = []

    def make(url: str, username: str | None = None, password: str | None = None) -> str:
        config = {"url": url, "username": username, "password": password}
        body = {
            "display_name": f"hook-{len(made)}",
            "config": {"generic_webhook": {k: v for k, v in config.items() if v is not None}},
        }
        response = api.post(DESTINATIONS, json=body)
        assert response.status_code == 200, response.text
        made.append(response.json()["id"])
        return made[-1]

    yield make
    for destination_id in made:
        api.delete(f"{DESTINATIONS}/{destination_id}")


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def hooks(**events: list[str]) -> dict[str, list[dict[str, str]]]:
    return {event: [{"id": ident} for ident in ids] for event, ids in events.items()}


def collect(receiver: HttpReceiver, count: int, timeout: float = 20) -> list[tuple[float, Any]]:
    """The first ``count`` notices as (wall time first seen, JSON body), in arrival order."""
    seen: list[tuple[float, Any]] = []
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        for request in receiver.requests[len(seen) :]:
            seen.append((time.time(), request.json()))
        if len(seen) >= count:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} notices, got {[body for _, body in seen]}")
        time.sleep(0.005)
    return seen


def find(seen: list[tuple[float, Any]], event_type: str, task_key: str | None = None) -> Any:
    matches = [
        (at, body)
        for at, body in seen
        if body["event_type"] == event_type and body.get("task", {}).get("task_key") == task_key
    ]
    assert len(matches) == 1, f"{event_type} {task_key}: {[body for _, body in seen]}"
    return matches[0]


# -- destinations --------------------------------------------------------------------------


def test_destination_crud_over_http_never_returns_secrets(api: httpx.Client) -> None:
    body = {
        "display_name": "lockgate",
        "config": {
            "generic_webhook": {
                "url": "http://127.0.0.1:9/hooks/databricks/a",
                "username": "lockgate",
                "password": "s3cret-pw",
            }
        },
    }
    created = api.post(DESTINATIONS, json=body)
    assert created.status_code == 200, created.text
    destination = created.json()
    ident = destination["id"]
    all_set = {"url_set": True, "username_set": True, "password_set": True}
    assert destination == {
        "id": ident,
        "display_name": "lockgate",
        "destination_type": "WEBHOOK",
        "config": {"generic_webhook": all_set},
    }
    fetched = api.get(f"{DESTINATIONS}/{ident}")
    assert fetched.json() == destination and "s3cret-pw" not in fetched.text

    listed = api.get(DESTINATIONS, params={"page_size": 100}).json()
    assert {"id": ident, "display_name": "lockgate", "destination_type": "WEBHOOK"} in listed[
        "results"
    ]
    # PATCH changes what it sends; the password it cannot know stays set.
    patched = api.patch(
        f"{DESTINATIONS}/{ident}",
        json={"display_name": "renamed", "config": {"generic_webhook": {"url": "http://x/y"}}},
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["display_name"] == "renamed"
    assert patched.json()["config"] == {"generic_webhook": all_set}
    assert "s3cret-pw" not in patched.text

    wrong_type = api.patch(f"{DESTINATIONS}/{ident}", json={"config": {"slack": {"url": "u"}}})
    assert wrong_type.status_code == 400
    assert wrong_type.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert api.patch(f"{DESTINATIONS}/{ident}", json={}).status_code == 400

    assert api.delete(f"{DESTINATIONS}/{ident}").json() == {}
    gone = api.get(f"{DESTINATIONS}/{ident}")
    assert gone.status_code == 404 and gone.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert api.delete(f"{DESTINATIONS}/{ident}").status_code == 404


def test_email_and_slack_destinations_are_stored_and_bad_configs_refused(
    api: httpx.Client,
) -> None:
    email = api.post(
        DESTINATIONS,
        json={"display_name": "oncall", "config": {"email": {"addresses": ["a@example.com"]}}},
    ).json()
    assert email["destination_type"] == "EMAIL"
    assert email["config"] == {"email": {"addresses": ["a@example.com"]}}
    slack = api.post(
        DESTINATIONS, json={"config": {"slack": {"url": "https://hooks.slack.com/x"}}}
    ).json()
    assert slack["destination_type"] == "SLACK"
    assert slack["config"]["slack"] == {
        "url_set": True,
        "oauth_token_set": False,
        "channel_id_set": False,
    }
    bad_bodies: list[dict[str, Any]] = [
        {},
        {"config": {}},
        {"config": {"generic_webhook": {}}},  # no url
        {"config": {"generic_webhook": {"url": "ftp://x"}}},
        {"config": {"generic_webhook": {"url": "http://x", "pasword": "typo"}}},
        {"config": {"email": {"addresses": ["a@b"]}, "slack": {"url": "http://x"}}},
    ]
    for bad in bad_bodies:
        response = api.post(DESTINATIONS, json=bad)
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    for ident in (email["id"], slack["id"]):
        api.delete(f"{DESTINATIONS}/{ident}")


def test_destinations_through_the_databricks_sdk(local_backend: RunningBackend) -> None:
    workspace = WorkspaceClient(host=local_backend.url, token=TOKEN)
    created = workspace.notification_destinations.create(
        display_name="sdk hook",
        config=sdk_settings.Config(
            generic_webhook=sdk_settings.GenericWebhookConfig(
                url="http://127.0.0.1:9/hook", username="u", password="p"
            )
        ),
    )
    assert created.id and created.destination_type == sdk_settings.DestinationType.WEBHOOK
    assert created.config is not None and created.config.generic_webhook is not None
    hook = created.config.generic_webhook
    assert hook.password is None and hook.url is None
    assert hook.password_set and hook.url_set and hook.username_set

    listed = {item.id: item for item in workspace.notification_destinations.list()}
    assert listed[created.id].display_name == "sdk hook"
    updated = workspace.notification_destinations.update(created.id, display_name="renamed")
    assert updated.display_name == "renamed"
    assert workspace.notification_destinations.get(created.id).display_name == "renamed"
    workspace.notification_destinations.delete(created.id)
    with pytest.raises(NotFound):
        workspace.notification_destinations.get(created.id)


# -- notifications -------------------------------------------------------------------------


def test_a_run_posts_start_and_success_notices_with_basic_auth_at_once(
    jobs: Jobs,
    notebook: Callable[..., str],
    receiver: HttpReceiver,
    make_destination: MakeDestination,
) -> None:
    hook = make_destination(receiver.url, "lockgate", "pw-1")
    path = notebook("ok", "import time\ntime.sleep(0.3)\nprint('ok')")
    task = notebook_task(
        "load", path, webhook_notifications=hooks(on_start=[hook], on_success=[hook])
    )
    job_hooks = hooks(on_start=[hook], on_success=[hook], on_failure=[hook])
    job_id = jobs.create(task, name="notified", webhook_notifications=job_hooks)

    settings = jobs.call("GET", "get", params={"job_id": job_id})["settings"]
    assert settings["webhook_notifications"] == job_hooks
    assert settings["tasks"][0]["webhook_notifications"] == task["webhook_notifications"]

    run_id = jobs.run_now(job_id)
    seen = collect(receiver, 4)
    run = jobs.wait(run_id)
    assert run["state"]["result_state"] == "SUCCESS"
    task_run_id = task_of(run, "load")["run_id"]
    job_part = {"job_id": str(job_id), "name": "notified"}

    started_at, started = find(seen, "jobs.on_start")
    assert started == {
        "event_type": "jobs.on_start",
        "workspace_id": WORKSPACE_ID,
        "run": {"run_id": str(run_id)},
        "job": job_part,
    }
    assert started_at - run["start_time"] / 1000 < NOTICE_WITHIN_SECONDS
    _, task_started = find(seen, "jobs.on_start", "load")
    assert task_started == {
        "event_type": "jobs.on_start",
        "workspace_id": WORKSPACE_ID,
        "task": {"task_key": "load"},
        "run": {"run_id": str(task_run_id), "parent_run_id": str(run_id)},
        "job": job_part,
    }
    _, task_succeeded = find(seen, "jobs.on_success", "load")
    assert task_succeeded == {**task_started, "event_type": "jobs.on_success"}
    ended_at, succeeded = find(seen, "jobs.on_success")
    assert succeeded == {**started, "event_type": "jobs.on_success"}
    assert 0 <= ended_at - run["end_time"] / 1000 < NOTICE_WITHIN_SECONDS
    assert seen.index((ended_at, succeeded)) == 3  # after both starts and the task's end

    auth = {request.headers.get("authorization") for request in receiver.requests}
    assert auth == {basic("lockgate", "pw-1")}
    assert {request.headers["content-type"] for request in receiver.requests} == {
        "application/json"
    }
    assert {request.path for request in receiver.requests} == {"/alerts"}


def test_a_failing_task_posts_task_and_job_failures_and_retries_are_task_level_only(
    jobs: Jobs,
    notebook: Callable[..., str],
    receiver: HttpReceiver,
    make_destination: MakeDestination,
) -> None:
    hook = make_destination(receiver.url)  # no credentials: no Authorization header
    path = notebook("boom", "raise ValueError('boom')")
    on_failure = hooks(on_failure=[hook])
    every_attempt = notebook_task("every", path, max_retries=1, webhook_notifications=on_failure)
    last_only = notebook_task(
        "last",
        path,
        max_retries=1,
        webhook_notifications=on_failure,
        notification_settings={"alert_on_last_attempt": True},
    )
    job_id = jobs.create(every_attempt, last_only, name="failing", webhook_notifications=on_failure)
    run_id = jobs.run_now(job_id)
    run = jobs.wait(run_id)
    assert run["state"]["result_state"] == "FAILED"
    # "every": both attempts; "last": its last attempt only; the job: once, at its end.
    seen = collect(receiver, 4)
    time.sleep(0.3)  # nothing more arrives
    assert len(receiver.requests) == 4
    bodies = [body for _, body in seen]
    assert all(body["event_type"] == "jobs.on_failure" for body in bodies)
    by_task: dict[str | None, list[str]] = {}
    for body in bodies:
        key = body.get("task", {}).get("task_key")
        by_task.setdefault(key, []).append(body["run"]["run_id"])
        if key is not None:
            assert body["run"]["parent_run_id"] == str(run_id)
    attempts: dict[str, list[str]] = {t["task_key"]: [] for t in run["tasks"]}
    for task in sorted(run["tasks"], key=lambda t: t["attempt_number"]):
        attempts[task["task_key"]].append(str(task["run_id"]))
    assert by_task == {
        "every": attempts["every"],
        "last": attempts["last"][-1:],
        None: [str(run_id)],
    }
    ended_at, _ = find(seen, "jobs.on_failure")
    assert 0 <= ended_at - run["end_time"] / 1000 < NOTICE_WITHIN_SECONDS
    assert all("authorization" not in request.headers for request in receiver.requests)


def test_runs_submit_notices_name_the_run(
    jobs: Jobs,
    notebook: Callable[..., str],
    receiver: HttpReceiver,
    make_destination: MakeDestination,
) -> None:
    hook = make_destination(receiver.url)
    body = {
        "run_name": "one-off",
        "tasks": [notebook_task("t", notebook("ok", "print(1)"))],
        "webhook_notifications": hooks(on_success=[hook]),
    }
    run_id = int(jobs.call("POST", "runs/submit", json=body)["run_id"])
    [(_, notice)] = collect(receiver, 1)
    assert notice == {
        "event_type": "jobs.on_success",
        "workspace_id": WORKSPACE_ID,
        "run": {"run_id": str(run_id)},
        "job": {"name": "one-off"},  # a one-time run belongs to no job
    }


def test_a_run_past_its_duration_health_rule_posts_a_warning_once(
    jobs: Jobs,
    notebook: Callable[..., str],
    receiver: HttpReceiver,
    make_destination: MakeDestination,
    tmp_path: Path,
) -> None:
    hook = make_destination(receiver.url)
    path = notebook("wait", WAIT_FOR_RELEASE)
    task = notebook_task("slow", path, params={"gate_dir": str(tmp_path), "name": "slow"})
    job_id = jobs.create(
        task,
        name="slow-job",
        health={"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 1}]},
        webhook_notifications=hooks(on_duration_warning_threshold_exceeded=[hook]),
    )
    run_id = jobs.run_now(job_id)
    [(warned_at, warning)] = collect(receiver, 1, timeout=10)
    assert warning == {
        "event_type": "jobs.on_duration_warning_threshold_exceeded",
        "workspace_id": WORKSPACE_ID,
        "run": {"run_id": str(run_id)},
        "job": {"job_id": str(job_id), "name": "slow-job"},
    }
    started = jobs.get(run_id)
    assert started["state"]["life_cycle_state"] == "RUNNING"
    assert 1.0 <= warned_at - started["start_time"] / 1000 < 1.0 + NOTICE_WITHIN_SECONDS
    (tmp_path / "release").write_text("go")
    jobs.wait(run_id)
    assert len(receiver.requests) == 1


def test_more_than_three_destinations_per_event_is_a_400(
    api: httpx.Client, jobs: Jobs, notebook: Callable[..., str]
) -> None:
    four = hooks(on_failure=["a", "b", "c", "d"])
    task = notebook_task("t", notebook("ok", "print(1)"))
    requests: list[tuple[str, dict[str, Any]]] = [
        ("jobs/create", {"name": "x", "tasks": [task], "webhook_notifications": four}),
        ("jobs/create", {"name": "x", "tasks": [{**task, "webhook_notifications": four}]}),
        ("jobs/runs/submit", {"tasks": [task], "webhook_notifications": four}),
        ("jobs/runs/submit", {"tasks": [{**task, "webhook_notifications": four}]}),
    ]
    for path, body in requests:
        response = api.post(f"/api/2.2/{path}", json=body)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert "at most 3" in response.json()["message"]
    job_id = jobs.create(task, webhook_notifications=hooks(on_failure=["a", "b", "c"]))
    update = api.post(
        "/api/2.2/jobs/update",
        json={"job_id": job_id, "new_settings": {"webhook_notifications": four}},
    )
    assert update.status_code == 400 and update.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_dead_failing_and_unknown_destinations_never_break_a_run(
    jobs: Jobs,
    notebook: Callable[..., str],
    receiver: HttpReceiver,
    make_destination: MakeDestination,
) -> None:
    dead = make_destination(f"http://127.0.0.1:{free_port()}/nobody-listens")
    with http_receiver() as failing_receiver:
        failing_receiver.status = 500
        failing = make_destination(failing_receiver.url)
        live = make_destination(receiver.url)
        job_id = jobs.create(
            notebook_task("t", notebook("ok", "print(1)")),
            name="still-notified",
            webhook_notifications=hooks(
                on_start=["no-such-destination"], on_success=[dead, failing, live]
            ),
        )
        run = jobs.wait(jobs.run_now(job_id))
        assert run["state"]["result_state"] == "SUCCESS"
        [(at, notice)] = collect(receiver, 1)
        assert notice["event_type"] == "jobs.on_success"
        assert notice["job"]["name"] == "still-notified"
        assert at - run["end_time"] / 1000 < NOTICE_WITHIN_SECONDS
        # A 500 is tried again (3 attempts in all, about 2.5 s), then dropped.
        failing_receiver.wait_for(3, timeout=10)
        time.sleep(0.3)
        assert len(failing_receiver.requests) == 3


def test_destinations_survive_a_restart_and_still_authenticate(
    tmp_path: Path, receiver: HttpReceiver
) -> None:
    notebook_file = tmp_path / "workspace" / "Tests" / "ok.py"
    notebook_file.parent.mkdir(parents=True)
    notebook_file.write_text("# Databricks notebook source\nprint('ok')\n")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with start_backend(tmp_path) as backend, httpx.Client(base_url=backend.url) as client:
        body = {
            "config": {"generic_webhook": {"url": receiver.url, "username": "u", "password": "p"}}
        }
        ident = client.post(DESTINATIONS, json=body, headers=headers).json()["id"]
    with (
        start_backend(tmp_path) as backend,
        httpx.Client(base_url=backend.url, headers=headers, timeout=10) as client,
    ):
        fetched = client.get(f"{DESTINATIONS}/{ident}").json()
        assert fetched["config"]["generic_webhook"]["password_set"] is True
        jobs = Jobs(client)
        job_id = jobs.create(
            notebook_task("t", "/Tests/ok"), webhook_notifications=hooks(on_success=[ident])
        )
        run = jobs.wait(jobs.run_now(job_id))
        assert run["state"]["result_state"] == "SUCCESS"
        [(_, notice)] = collect(receiver, 1)
        assert notice["run"] == {"run_id": str(run["run_id"])}
        assert receiver.requests[0].headers["authorization"] == basic("u", "p")

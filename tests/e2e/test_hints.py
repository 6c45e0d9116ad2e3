"""Notification hints end to end: Lockgate registers itself as a notification destination
of the local backend, which posts Databricks' job notifications to it when runs end; a
worker confirms each with one runs/get. Polling is slowed to a minute here, so a run
recorded within seconds of its end was recorded through its hint."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.runs.hints import HINT_USERNAME, hint_password
from tests.e2e.conftest import Lockgate, ended, open_lockgate
from tests.e2e.test_webhook_to_run import _notebook

HINT_SECRET = "hint-secret-for-tests-0123456789"
MAX_NOTICE_SECONDS = 2.0


@pytest.fixture
def lockgate(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[Lockgate]:
    with open_lockgate(
        tmp_path,
        redis_url,
        redis_prefix,
        databricks_hint_secret=HINT_SECRET,
        poll_interval_seconds=60.0,
        hinted_poll_interval_seconds=60.0,
    ) as harness:
        # Where the backend posts the hints: the API this harness serves.
        harness.settings = harness.settings.model_copy(
            update={"public_url": str(harness.api.base_url).rstrip("/")}
        )
        yield harness


def _start(lockgate: Lockgate, workflow: str) -> str:
    response = lockgate.api.post(f"/api/v1/workflows/{workflow}/runs", json={"parameters": {}})
    assert response.status_code == 202, response.text
    return str(response.json()["event_id"])


def _run_when_seen_ended(lockgate: Lockgate, event_id: str) -> tuple[dict[str, Any], float]:
    """The run, and the wall-clock time this test first saw it ended in Lockgate."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        event = lockgate.api.get(f"/api/v1/events/{event_id}").json()
        if event.get("run_id"):
            run = lockgate.api.get(f"/api/v1/runs/{event['run_id']}").json()
            if ended(run):
                return run, time.time()
        time.sleep(0.05)
    raise AssertionError(f"no end recorded within 60 s\n{lockgate.worker_logs()}")


def _basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_endings_are_recorded_within_two_seconds_through_hints(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/short", "import time\n---\ntime.sleep(1)")
    _notebook(lockgate, "/Tests/broken", "raise RuntimeError('broken on purpose')")
    # The user's own destination stays where it is; Lockgate's is added beside it.
    own = lockgate.backend.post(
        "/api/2.0/notification-destinations",
        json={
            "display_name": "team",
            "config": {"generic_webhook": {"url": "http://127.0.0.1:9/x"}},
        },
    ).json()["id"]
    for name, path in (("short", "/Tests/short"), ("broken", "/Tests/broken")):
        created = lockgate.api.post(
            "/api/v1/workflows",
            json={
                "name": name,
                # Databricks Jobs JSON, where webhook_notifications is the job's own key.
                "tasks": [{"task_key": "t", "notebook_task": {"notebook_path": path}}],
                "webhook_notifications": {"on_failure": [{"id": own}]},
            },
        )
        assert created.status_code == 201, created.text
    lockgate.start_worker()

    for name, status in (("short", "succeeded"), ("broken", "failed")):
        run, seen_at = _run_when_seen_ended(lockgate, _start(lockgate, name))
        assert run["status"] == status
        ended_at = datetime.fromisoformat(run["ended_at"]).timestamp()
        assert seen_at - ended_at < MAX_NOTICE_SECONDS, (seen_at - ended_at, run)

    job = lockgate.backend.get(
        "/api/2.2/jobs/get", params={"job_id": run["databricks_job_id"]}
    ).json()
    notifications = job["settings"]["webhook_notifications"]
    [ours] = {d["id"] for d in notifications["on_success"]}
    assert [d["id"] for d in notifications["on_failure"]] == [own, ours]
    # Lockgate's own destination is not drift.
    drift = lockgate.api.get("/api/v1/workflows/broken/drift").json()
    assert drift["drifted"] is False, drift


def test_a_hint_is_only_a_hint(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/long", "import time\n---\ntime.sleep(30)")
    created = lockgate.api.post(
        "/api/v1/workflows",
        json={
            "name": "long",
            "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/Tests/long"}],
        },
    )
    assert created.status_code == 201, created.text
    lockgate.start_worker()
    event_id = _start(lockgate, "long")
    run = lockgate.wait_for_run(event_id, lambda r: r["databricks_run_id"] is not None)
    hint = {
        "event_type": "jobs.on_success",
        "workspace_id": "1",
        "run": {"run_id": str(run["databricks_run_id"])},
        "job": {"job_id": str(run["databricks_job_id"]), "name": "long"},
    }
    url = str(lockgate.api.base_url).rstrip("/") + "/hooks/databricks/default"
    good = _basic(HINT_USERNAME, hint_password(lockgate.settings, "default"))

    wrong = httpx.post(url, json=hint, headers=_basic(HINT_USERNAME, "guess"))
    assert wrong.status_code == 401
    assert httpx.post(url, json=hint).status_code == 401
    malformed = httpx.post(url, json={"event_type": "jobs.on_success", "run": {}}, headers=good)
    assert malformed.status_code == 400
    assert malformed.json()["errors"][0]["path"] == "$.run.run_id"
    assert httpx.post(url.replace("default", "nowhere"), json=hint, headers=good).status_code == 404

    # A forged "success" for a run still running: confirmed with runs/get, changes nothing.
    assert httpx.post(url, json=hint, headers=good).status_code == 202
    time.sleep(2)
    still = lockgate.api.get(f"/api/v1/runs/{run['id']}").json()
    assert still["status"] == "running", still
    assert "confirm_hint" in lockgate.worker_logs()

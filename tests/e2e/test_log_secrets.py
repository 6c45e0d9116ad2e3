"""A whole failing run with alerts, its worker logging JSON: the worker's output
holds the run's ids and none of the secrets planted in settings, hook or API key."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Lockgate, ended, open_lockgate
from tests.e2e.test_webhook_to_run import _notebook
from tests.factories import signed_post
from tests.servers import http_receiver

TOKEN = "dapi-planted-databricks-token-7781"
SIGNING = "planted-alert-signing-secret-5512"
HOOK_SECRET = "planted-hook-secret-0042-abcdef"


@pytest.fixture
def lockgate(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[Lockgate]:
    with open_lockgate(
        tmp_path,
        redis_url,
        redis_prefix,
        log_format="json",
        databricks_token=TOKEN,
        alert_signing_secret=SIGNING,
    ) as harness:
        yield harness


def test_worker_logs_carry_ids_and_no_secrets(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/explode", "raise ValueError('bad row 7')")
    with http_receiver() as receiver:
        workflow = {
            "name": "leaky",
            "webhooks": {"on_failure": [receiver.url]},
            "tasks": [
                {
                    "task_key": "x",
                    "type": "notebook",
                    "notebook_path": "/Tests/explode",
                    "max_retries": 0,
                }
            ],
        }
        assert lockgate.api.post("/api/v1/workflows", json=workflow).status_code == 201
        hook = {"name": "leaky-hook", "workflow": "leaky", "secret": HOOK_SECRET}
        assert lockgate.api.post("/api/v1/hooks", json=hook).status_code == 201
        worker = lockgate.start_worker()
        response = signed_post(lockgate.api, "leaky-hook", HOOK_SECRET, b"{}")
        run = lockgate.wait_for_run(response.json()["event_id"], ended)
        assert run["status"] == "failed"
        receiver.wait_for(1)
        worker.stop()

    output = worker.log_path.read_text()
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert any(r.get("run_id") == run["id"] for r in records), output[-2000:]
    api_key = lockgate.api.headers["Authorization"].split(" ", 1)[1]
    for secret in (TOKEN, SIGNING, HOOK_SECRET, api_key):
        assert secret not in output

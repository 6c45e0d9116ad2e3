"""A run's start reaches the workflow's ``on_start`` lists once, end to end: a signed
webhook, real workers, the local backend running a notebook long enough for the poller
to see it running, an SMTP server and an HTTP receiver."""

from __future__ import annotations

import time

from tests.e2e.conftest import Lockgate, ended
from tests.e2e.test_webhook_to_run import SECRET, _create, _notebook
from tests.factories import signed_post
from tests.servers import http_receiver


def test_on_start_targets_hear_a_run_start_once(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/nap", "import time\n---\ntime.sleep(3)")
    with http_receiver() as receiver:
        workflow = {
            "name": "starting",
            "notifications": {"on_start": ["starter@example.com"]},
            "webhooks": {"on_start": [receiver.url]},
            "tasks": [
                {
                    "task_key": "nap",
                    "type": "notebook",
                    "notebook_path": "/Tests/nap",
                    "max_retries": 0,
                }
            ],
        }
        _create(lockgate, workflow, "starting-hook")
        lockgate.start_worker()
        response = signed_post(lockgate.api, "starting-hook", SECRET, b"{}")
        [(recipients, mail)] = lockgate.smtp.wait_for(1)
        [request] = receiver.wait_for(1)
        run = lockgate.wait_for_run(response.json()["event_id"], ended)
        assert run["status"] == "succeeded"

        assert recipients == ["starter@example.com"]
        assert mail["Subject"] == f"[Lockgate] Started: starting run {run['id']}"
        payload = request.json()
        assert payload["event_type"] == "run.started"
        assert payload["run"]["id"] == run["id"]
        assert payload["run"]["result_state"] == "RUNNING"
        # Every sweep while it ran saw it running, and its end came after: still one each.
        time.sleep(2)
        assert len(lockgate.smtp.messages) == 1 and len(receiver.requests) == 1
        alerts = lockgate.api.get(f"/api/v1/runs/{run['id']}").json()["alerts"]
        assert sorted(a["event_type"] for a in alerts) == ["run.started", "run.started"]

"""A named channel with a Slack-format subscription, narrowed by tag, hears a failed run
end to end (API, real workers, local backend); a test alert reaches the same receiver;
the alert's history shows its delivery."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e.conftest import Lockgate, ended
from tests.e2e.test_webhook_to_run import SECRET, _create, _notebook
from tests.factories import signed_post
from tests.servers import http_receiver


def _wait_delivered(lockgate: Lockgate, alert_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    alert: dict[str, Any] = {}
    while time.monotonic() < deadline:
        alert = lockgate.api.get(f"/api/v1/alerts/{alert_id}").json()
        if alert["status"] != "pending":
            return alert
        time.sleep(0.2)
    raise AssertionError(f"alert not delivered: {alert}")


def test_channel_subscription_in_slack_format_hears_a_failed_run(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/boom", "raise RuntimeError('warehouse is locked')")
    with http_receiver() as slack, http_receiver() as other_team:
        api = lockgate.api
        assert api.post("/api/v1/channels", json={"name": "etl-failures"}).status_code == 201
        for target, tags in [(slack.url, {"team": "data"}), (other_team.url, {"team": "ml"})]:
            made = api.post(
                "/api/v1/channels/etl-failures/subscriptions",
                json={
                    "kind": "webhook",
                    "target": target,
                    "format": "slack",
                    "event_types": ["run.failed"],
                    "workflow_tags": tags,
                },
            )
            assert made.status_code == 201, made.text
        workflow = {
            "name": "locked",
            "tags": {"team": "data"},
            "tasks": [
                {
                    "task_key": "boom",
                    "type": "notebook",
                    "notebook_path": "/Tests/boom",
                    "max_retries": 0,
                }
            ],
        }
        _create(lockgate, workflow, "locked-hook")
        lockgate.start_worker()
        response = signed_post(lockgate.api, "locked-hook", SECRET, b"{}")
        run = lockgate.wait_for_run(response.json()["event_id"], ended)
        assert run["status"] == "failed"

        [request] = slack.wait_for(1)
        message = json.loads(request.body)
        assert message["text"].startswith(f"FAILED: locked run {run['id']} - boom:")
        assert "warehouse is locked" in json.dumps(message["blocks"])
        [alert] = run["alerts"] or api.get(f"/api/v1/runs/{run['id']}").json()["alerts"]
        history = _wait_delivered(lockgate, alert["id"])["history"]
        assert [h["outcome"] for h in history] == ["delivered"]

        tested = api.post("/api/v1/channels/etl-failures/test")
        assert tested.status_code == 202
        slack.wait_for(2)
        other_team.wait_for(1)  # a test alert reaches every subscription
        assert "Test alert for channel etl-failures" in json.dumps(
            json.loads(slack.requests[1].body)
        )
        # The other team's subscription never heard about the data team's run.
        assert len(other_team.requests) == 1


def test_a_run_past_its_health_limit_warns_once_while_still_running(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/slow", "import time\n---\ntime.sleep(5)")
    with http_receiver() as receiver:
        api = lockgate.api
        assert api.post("/api/v1/channels", json={"name": "slow-runs"}).status_code == 201
        made = api.post(
            "/api/v1/channels/slow-runs/subscriptions",
            json={
                "kind": "webhook",
                "target": receiver.url,
                "event_types": ["run.duration_warning"],
            },
        )
        assert made.status_code == 201, made.text
        workflow = {
            "name": "slowpoke",
            "health": {
                "rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 1}]
            },
            "tasks": [
                {
                    "task_key": "nap",
                    "type": "notebook",
                    "notebook_path": "/Tests/slow",
                    "max_retries": 0,
                }
            ],
        }
        _create(lockgate, workflow, "slow-hook")
        lockgate.start_worker()
        response = signed_post(lockgate.api, "slow-hook", SECRET, b"{}")
        [request] = receiver.wait_for(1)
        warned_while = lockgate.api.get(f"/api/v1/events/{response.json()['event_id']}").json()
        run = lockgate.wait_for_run(response.json()["event_id"], ended)
        assert run["status"] == "succeeded"
        payload = request.json()
        assert payload["event_type"] == "run.duration_warning"
        assert payload["run"]["id"] == run["id"] == warned_while["run_id"]
        # Many sweeps saw it past the limit; one warning was sent.
        assert len(receiver.requests) == 1

"""A signed webhook becomes one Databricks run on the local backend, watched to its end
by real Celery workers, with alerts out on failure."""

from __future__ import annotations

import csv
import json
import textwrap
from email.message import EmailMessage as Message
from typing import Any

from service.alerts import verify_signature
from service.embedded.bootstrap import install_example
from tests.e2e.conftest import Lockgate, ended
from tests.factories import signed_post
from tests.servers import http_receiver

SECRET = "e2e-hook-secret-0123456789"


def _backend_runs(lockgate: Lockgate, job_id: int) -> list[dict[str, Any]]:
    response = lockgate.backend.get(
        "/api/2.2/jobs/runs/list", params={"job_id": job_id, "limit": 25}
    )
    response.raise_for_status()
    return list(response.json().get("runs", []))


def _notebook(lockgate: Lockgate, path: str, source: str) -> None:
    target = lockgate.settings.workspace_dir / f"{path.lstrip('/')}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    cells = "\n\n# COMMAND ----------\n\n".join(
        textwrap.dedent(c).strip() for c in source.split("---")
    )
    target.write_text("# Databricks notebook source\n" + cells + "\n")


def _create(lockgate: Lockgate, workflow: dict[str, Any], hook: str) -> None:
    created = lockgate.api.post("/api/v1/workflows", json=workflow)
    assert created.status_code == 201, created.text
    made = lockgate.api.post(
        "/api/v1/hooks", json={"name": hook, "workflow": workflow["name"], "secret": SECRET}
    )
    assert made.status_code == 201, made.text


def test_signed_webhook_runs_the_etl_example_to_success(lockgate: Lockgate) -> None:
    example = install_example(lockgate.sessions, lockgate.settings)
    lockgate.start_worker()
    # Not today's date: the notebooks fall back to today when the parameter is missing,
    # so only another date shows the mapped value reached them.
    response = signed_post(
        lockgate.api, example.hook_name, example.hook_secret, b'{"date": "2001-02-03"}'
    )
    assert response.status_code == 202, response.text

    run = lockgate.wait_for_run(response.json()["event_id"], ended, timeout=150)

    assert run["status"] == "succeeded", run
    assert run["result_state"] == "SUCCESS"
    states = {t["task_key"]: t["result_state"] for t in run["tasks"]}
    assert states == {
        "data-validation": "SUCCESS",
        "raw-data-ingestion": "SUCCESS",
        "customer-data-processing": "SUCCESS",
        "transaction-data-processing": "SUCCESS",
        "data-enrichment": "SUCCESS",
        "data-quality-checks": "SUCCESS",
        "update-data-catalog": "SUCCESS",
    }
    gold = lockgate.settings.dbfs_root / "mnt/gold-data/customer_analytics/customer_analytics.csv"
    assert gold.is_file()
    with gold.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "the gold table is empty"
    assert len({r["customer_id"] for r in rows}) == len(rows)  # deduplicated customers
    # The hook mapped $.date to the run parameter processing_date, and the ingestion
    # notebook read it with dbutils.widgets and stamped every bronze row with it.
    assert run["parameters"] == {"processing_date": "2001-02-03"}
    bronze = lockgate.settings.dbfs_root / "mnt/bronze-data"
    for dataset in ("customers", "transactions"):
        with (bronze / dataset / f"{dataset}.csv").open() as handle:
            stamped = list(csv.DictReader(handle))
        assert stamped and {r["processing_date"] for r in stamped} == {"2001-02-03"}, dataset
    assert len(_backend_runs(lockgate, run["databricks_job_id"])) == 1


def test_a_failing_task_fails_the_run_and_alerts_by_email_and_webhook(
    lockgate: Lockgate,
) -> None:
    _notebook(lockgate, "/Tests/ok", "print('fine')\n---\ndbutils.notebook.exit('ok')")
    _notebook(
        lockgate,
        "/Tests/explode",
        "rows = [1, 2]\n---\nraise ValueError('bad row 7')",
    )
    with http_receiver() as receiver:
        workflow = {
            "name": "fragile",
            "notifications": {"on_failure": ["oncall@example.com", "data@example.com"]},
            "webhooks": {"on_failure": [receiver.url]},
            "tasks": [
                {
                    "task_key": "prepare",
                    "type": "notebook",
                    "notebook_path": "/Tests/ok",
                    "max_retries": 0,
                },
                {
                    "task_key": "explode",
                    "type": "notebook",
                    "notebook_path": "/Tests/explode",
                    "depends_on": ["prepare"],
                    "max_retries": 0,
                },
                {
                    "task_key": "publish",
                    "type": "notebook",
                    "notebook_path": "/Tests/ok",
                    "depends_on": ["explode"],
                    "max_retries": 0,
                },
                {
                    "task_key": "side",
                    "type": "notebook",
                    "notebook_path": "/Tests/ok",
                    "depends_on": ["prepare"],
                    "max_retries": 0,
                },
            ],
        }
        _create(lockgate, workflow, "fragile-hook")
        lockgate.start_worker()
        response = signed_post(lockgate.api, "fragile-hook", SECRET, b"{}")
        assert response.status_code == 202
        run = lockgate.wait_for_run(response.json()["event_id"], ended)

        assert run["status"] == "failed"
        assert run["result_state"] == "FAILED"
        states = {t["task_key"]: t["result_state"] for t in run["tasks"]}
        assert states == {
            "prepare": "SUCCESS",
            "explode": "FAILED",
            "publish": "UPSTREAM_FAILED",
            "side": "SUCCESS",
        }
        explode = next(t for t in run["tasks"] if t["task_key"] == "explode")
        assert "ValueError: bad row 7" in (explode["error"] or "")

        [request] = receiver.wait_for(1)
        payload = request.json()
        assert verify_signature(
            lockgate.settings.alert_signing_secret.get_secret_value(),
            request.headers["webhook-id"],
            request.headers["webhook-timestamp"],
            request.body,
            request.headers["webhook-signature"],
        )
        assert payload["event_type"] == "run.failed"
        assert payload["workflow"]["name"] == "fragile"
        assert payload["run"]["id"] == run["id"]
        failed = {t["task_key"]: t for t in payload["failed_tasks"]}
        assert "ValueError: bad row 7" in failed["explode"]["error"]

    # One delivery per target: each address gets its own message.
    messages = lockgate.smtp.wait_for(2)
    assert sorted(r for recipients, _ in messages for r in recipients) == [
        "data@example.com",
        "oncall@example.com",
    ]
    for _, message in messages:
        assert "fragile" in message["Subject"] and "FAILED" in message["Subject"]
        text = _plain_text(message)
        assert "explode" in text and "ValueError: bad row 7" in text and run["id"] in text

    alerts = lockgate.api.get(f"/api/v1/runs/{run['id']}").json()["alerts"]
    assert sorted((a["channel"], a["target"], a["status"]) for a in alerts) == [
        ("email", "data@example.com", "delivered"),
        ("email", "oncall@example.com", "delivered"),
        ("webhook", receiver.url, "delivered"),
    ]


def _plain_text(message: Message) -> str:
    part = message.get_body(preferencelist=("plain",))
    payload = (part or message).get_payload(decode=True)
    return payload.decode() if isinstance(payload, bytes) else str(payload)


def test_the_same_delivery_twice_makes_one_run(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/ok", "dbutils.notebook.exit('ok')")
    _create(
        lockgate,
        {
            "name": "once",
            "tasks": [
                {
                    "task_key": "t",
                    "type": "notebook",
                    "notebook_path": "/Tests/ok",
                    "max_retries": 0,
                }
            ],
        },
        "once-hook",
    )
    lockgate.start_worker()
    first = signed_post(lockgate.api, "once-hook", SECRET, b'{"n": 1}', idempotency_key="d-1")
    second = signed_post(lockgate.api, "once-hook", SECRET, b'{"n": 1}', idempotency_key="d-1")
    assert first.json()["event_id"] == second.json()["event_id"]
    run = lockgate.wait_for_run(first.json()["event_id"], ended)
    assert run["status"] == "succeeded"
    assert len(lockgate.api.get("/api/v1/runs").json()["items"]) == 1
    assert len(_backend_runs(lockgate, run["databricks_job_id"])) == 1
    metrics = lockgate.api.get("/metrics").text
    assert 'lockgate_runs{status="succeeded"} 1.0' in metrics
    assert "lockgate_trigger_to_submit_seconds_count 1.0" in metrics


def test_a_run_survives_its_worker_being_killed(lockgate: Lockgate) -> None:
    _notebook(
        lockgate,
        "/Tests/slow",
        "import time\n---\ntime.sleep(6)\n---\ndbutils.notebook.exit('slept')",
    )
    _create(
        lockgate,
        {
            "name": "slow",
            "tasks": [
                {
                    "task_key": "nap",
                    "type": "notebook",
                    "notebook_path": "/Tests/slow",
                    "max_retries": 0,
                }
            ],
        },
        "slow-hook",
    )
    first = lockgate.start_worker()
    response = signed_post(lockgate.api, "slow-hook", SECRET, json.dumps({}).encode())
    event_id = response.json()["event_id"]
    running = lockgate.wait_for_run(event_id, lambda r: r["databricks_run_id"] is not None)
    assert not ended(running)

    first.kill()
    lockgate.start_worker()
    run = lockgate.wait_for_run(event_id, ended, timeout=90)

    assert run["status"] == "succeeded", run
    assert run["databricks_run_id"] == running["databricks_run_id"]
    assert [t["result_state"] for t in run["tasks"]] == ["SUCCESS"]
    assert len(_backend_runs(lockgate, run["databricks_job_id"])) == 1

"""A file landing in a watched folder and a schedule coming due each become one
Databricks run on the local backend, through real workers, with the file location
passed as ``{{job.trigger.file_arrival.location}}``."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from service.runs.queue import CeleryTaskSender, make_celery
from service.triggers.listener import Listener
from service.triggers.scheduler import Scheduler
from tests.e2e.conftest import Lockgate, ended


def _notebook(lockgate: Lockgate, path: str, source: str) -> None:
    target = lockgate.settings.workspace_dir / f"{path.lstrip('/')}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("# Databricks notebook source\n" + textwrap.dedent(source).strip() + "\n")


def _workflow(name: str, **extra: object) -> dict[str, object]:
    return {
        "name": name,
        "parameters": [
            {"name": "where", "default": "{{job.trigger.file_arrival.location}}"},
            {"name": "new_files", "default": "[]"},
        ],
        "tasks": [
            {
                "task_key": "read",
                "type": "notebook",
                "notebook_path": "/Shared/arrive",
                "max_retries": 0,
            }
        ],
        **extra,
    }


def test_a_file_and_a_schedule_each_start_one_run(lockgate: Lockgate, tmp_path: Path) -> None:
    _notebook(
        lockgate,
        "/Shared/arrive",
        """
        import json
        where = dbutils.widgets.get("where")
        files = json.loads(dbutils.widgets.get("new_files"))
        dbutils.notebook.exit(json.dumps({"where": where, "files": len(files)}))
        """,
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    location = f"file://{inbox}/"
    files = _workflow("on-file", trigger={"file_arrival": {"url": location}})
    assert lockgate.api.post("/api/v1/workflows", json=files).status_code == 201
    every_second = _workflow("on-time", schedule={"cron": "* * * * * ?"})
    assert lockgate.api.post("/api/v1/workflows", json=every_second).status_code == 201
    lockgate.start_worker()

    celery = make_celery(lockgate.settings, name="lockgate-e2e-triggers")
    sender = CeleryTaskSender(celery)
    listener = Listener(lockgate.sessions, sender, lockgate.settings)
    listener.startup()
    listener.tick()
    (inbox / "orders.csv").write_text("id\n1\n")
    time.sleep(1.1)  # the local source waits for a file to settle for 1 s
    listener.tick()

    start = datetime.now(UTC)
    scheduler = Scheduler(
        lockgate.sessions, sender, lockgate.settings, clock=lambda: datetime.now(UTC)
    )
    scheduler.startup()
    while datetime.now(UTC) < start + timedelta(seconds=1.5):
        time.sleep(scheduler.tick())
    scheduler.shutdown()
    listener.shutdown()
    celery.close()

    ledger = lockgate.api.get("/api/v1/events", params={"limit": 100}).json()["items"]
    by_source: dict[str, list[dict[str, object]]] = {}
    for event in ledger:
        by_source.setdefault(str(event["source"]), []).append(event)
    assert len(by_source["file_arrival"]) == 1
    assert len(by_source["schedule"]) >= 1
    file_event = by_source["file_arrival"][0]
    assert file_event["parameters"] == {
        "where": location,
        "new_files": json.dumps([f"file://{inbox}/orders.csv"]),
    }
    run = lockgate.wait_for_run(str(file_event["id"]), ended, timeout=120)
    assert run["status"] == "succeeded", run
    scheduled = lockgate.wait_for_run(str(by_source["schedule"][-1]["id"]), ended, timeout=120)
    assert scheduled["status"] in ("succeeded", "skipped"), scheduled

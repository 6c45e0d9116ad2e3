"""A task's output is read from Databricks (the local backend over HTTP) when its page is
opened, and shown escaped."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from service.store.models import Run, RunStatus, TaskRun, TriggerEvent, Workflow
from tests.databricks.local.conftest import TOKEN, start_backend
from tests.ui.conftest import Console

NOTEBOOK = """# Databricks notebook source
print("loaded 42 rows <script>alert(1)</script>")

# COMMAND ----------

dbutils.notebook.exit("rows=42")
"""


def _run_on_backend(api: httpx.Client) -> tuple[int, int]:
    job_id = api.post(
        "/api/2.2/jobs/create",
        json={
            "name": "loader",
            "tasks": [{"task_key": "load", "notebook_task": {"notebook_path": "/load"}}],
        },
    ).json()["job_id"]
    run_id = api.post("/api/2.2/jobs/run-now", json={"job_id": job_id}).json()["run_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = api.get("/api/2.2/jobs/runs/get", params={"run_id": run_id}).json()
        if run["state"]["life_cycle_state"] == "TERMINATED":
            return run_id, run["tasks"][0]["run_id"]
        time.sleep(0.1)
    raise AssertionError("the run did not end")


def test_the_output_page_reads_get_output_and_escapes_it(
    make_console: Callable[..., Console], tmp_path: Path
) -> None:
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "load.py").write_text(NOTEBOOK)
    with (
        start_backend(tmp_path) as backend,
        httpx.Client(
            base_url=backend.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as api,
    ):
        databricks_run_id, task_run_id = _run_on_backend(api)
        console = make_console(databricks_host=backend.url, databricks_token=TOKEN)
        with console.sessions.begin() as session:
            workflow = Workflow(name="loader", source={"name": "loader", "tasks": []})
            session.add(workflow)
            session.flush()
            event = TriggerEvent(
                source="manual", source_name="loader", dedupe_key="1", workflow_id=workflow.id
            )
            session.add(event)
            session.flush()
            run = Run(
                workflow_id=workflow.id,
                trigger_event_id=event.id,
                status=RunStatus.SUCCEEDED,
                databricks_run_id=databricks_run_id,
            )
            session.add(run)
            session.flush()
            session.add(TaskRun(run_id=run.id, task_key="load", databricks_run_id=task_run_id))
            run_id = run.id
        reader = console.signed_in("read")
        run_page = reader.get(f"/ui/runs/{run_id}")
        assert f'href="/ui/runs/{run_id}/tasks/load/output"' in run_page.text
        page = reader.get(f"/ui/runs/{run_id}/tasks/load/output")
        assert page.status_code == 200, page.text
        assert "rows=42" in page.text
        assert "loaded 42 rows &lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "<script>alert(1)" not in page.text
        missing = reader.get(f"/ui/runs/{run_id}/tasks/nope/output")
        assert missing.status_code == 404

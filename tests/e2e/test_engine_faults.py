"""200 triggers through a fault-injecting proxy in front of the local backend: every
trigger becomes exactly one Databricks run, every run ends and is recorded.

The proxy is a real HTTP server in a thread. At the configured rate it answers a request
with a fault instead of the backend's reply: 429 with Retry-After, 500 or 503 before
forwarding; a reset before forwarding; a slow answer; and - the hard cases - a reset or
a 500 *after* the backend processed the request, so the client cannot know whether
Databricks acted on it.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Lockgate, ended, open_lockgate
from tests.e2e.test_webhook_to_run import _notebook
from tests.servers import serve_handler

FAULTS = ("429", "500", "503", "reset", "slow", "reset-after", "500-after")


class FaultProxy:
    def __init__(self, upstream: str, rate: float, seed: int = 5) -> None:
        self.upstream = upstream
        self.rate = rate
        self.delay = 0.0  # seconds added before every forwarded request
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.faults: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.http = httpx.Client(base_url=upstream, timeout=30)

    def pick(self) -> str | None:
        with self.lock:
            if self.random.random() >= self.rate:
                return None
            fault = self.random.choice(FAULTS)
            self.faults[fault] += 1
            return fault

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> httpx.Response:
        with self.lock:
            self.forwarded[f"{method} {path.split('?')[0]}"] += 1
        return self.http.request(method, path, headers=headers, content=body)


@contextmanager
def fault_proxy(upstream: str, rate: float) -> Iterator[tuple[str, FaultProxy]]:
    proxy = FaultProxy(upstream, rate)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {
                k: v
                for k, v in self.headers.items()
                if k.lower() in ("authorization", "content-type")
            }
            fault = proxy.pick() if self.path.startswith("/api/") else None
            if fault in ("429", "500", "503"):
                extra = {"Retry-After": "0.2"} if fault == "429" else {}
                code = "REQUEST_LIMIT_EXCEEDED" if fault == "429" else "INTERNAL_ERROR"
                self._reply(
                    int(fault), f'{{"error_code": "{code}", "message": "injected"}}'.encode(), extra
                )
                return
            if fault == "reset":
                self._reset()
                return
            if fault == "slow":
                time.sleep(0.3)
            if proxy.delay:
                time.sleep(proxy.delay)
            response = proxy.forward(self.command, self.path, headers, body)
            if fault == "reset-after":
                self._reset()
                return
            if fault == "500-after":
                self._reply(500, b'{"error_code": "INTERNAL_ERROR", "message": "injected"}', {})
                return
            self._reply(response.status_code, response.content, {})

        def _reply(self, status: int, body: bytes, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _reset(self) -> None:
            # SO_LINGER 0: close with a TCP RST, as a dropped connection looks.
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
            )
            self.close_connection = True
            self.connection.close()

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            return

    try:
        with serve_handler(Handler) as url:
            yield url, proxy
    finally:
        proxy.http.close()


# Its waits allow four minutes for the runs (a loaded machine); the suite's three-minute
# default would cut them short.
@pytest.mark.timeout(420)
def test_200_triggers_at_20_percent_faults_make_200_runs(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    proxies: list[FaultProxy] = []

    @contextmanager
    def through_proxy(upstream: str) -> Iterator[str]:
        with fault_proxy(upstream, rate=0.2) as (url, proxy):
            proxies.append(proxy)
            yield url

    with open_lockgate(
        tmp_path,
        redis_url,
        redis_prefix,
        databricks_url=through_proxy,
        poll_interval_seconds=0.5,
        sweep_interval_seconds=1.0,
        stuck_after_seconds=4.0,
        databricks_requests_per_second=500.0,
        databricks_request_burst=500,
        databricks_writes_limit_per_second=1000.0,  # the budgets are not under test here
        local_max_parallel_tasks=16,
    ) as lockgate:
        _run_200(lockgate)
        proxy = proxies[0]
        assert sum(proxy.faults.values()) > 40, proxy.faults
        assert set(proxy.faults) == set(FAULTS), proxy.faults


def _run_200(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/ok", "dbutils.notebook.exit('ok')")
    response = lockgate.api.post(
        "/api/v1/workflows",
        json={
            "name": "many",
            "max_concurrent_runs": 1000,
            "tasks": [
                {
                    "task_key": "t",
                    "type": "notebook",
                    "notebook_path": "/Tests/ok",
                    "max_retries": 0,
                }
            ],
        },
    )
    assert response.status_code == 201, response.text
    lockgate.start_worker()
    lockgate.start_worker()
    events = []
    for n in range(200):
        started = lockgate.api.post(
            "/api/v1/workflows/many/runs",
            json={"parameters": {"n": str(n)}},
            headers={"Idempotency-Key": f"fault-{n}"},
        )
        assert started.status_code == 202, started.text
        events.append(started.json()["event_id"])

    # Generous: other suites may share the two cores; alone this takes about 20 s.
    runs = [lockgate.wait_for_run(e, ended, timeout=240) for e in events]

    assert Counter(r["status"] for r in runs) == {"succeeded": 200}, Counter(
        (r["status"], r["state_message"]) for r in runs
    )
    assert len({r["databricks_run_id"] for r in runs}) == 200
    backend_runs = []
    page_token = None
    while True:
        page = lockgate.backend.get(
            "/api/2.2/jobs/runs/list",
            params={"job_id": runs[0]["databricks_job_id"], "limit": 25}
            | ({"page_token": page_token} if page_token else {}),
        ).json()
        backend_runs += page.get("runs", [])
        page_token = page.get("next_page_token")
        if not page_token:
            break
    assert len(backend_runs) == 200  # no duplicate submission
    jobs = lockgate.backend.get("/api/2.2/jobs/list", params={"limit": 100}).json()
    assert len(jobs.get("jobs", [])) == 1  # one job, despite lost create responses
    assert sorted(r["parameters"]["n"] for r in runs) == sorted(str(n) for n in range(200))

"""A run-state simulator serving the Jobs API paths the poller reads, for benchmarks.

Not the local backend: that one runs each task as a process, and 2,000 concurrently
active runs do not fit on a 2-core machine. Here a run is two numbers (start and end
time, epoch ms); its state is computed when read. It serves runs/list (active_only,
completed_only, start_time_from and _to, limit, page_token, expand_tasks: one task per run),
runs/get, runs/get-output and runs/cancel, newest first like Databricks, and counts
every request it answers (with its time) so a benchmark can report what polling cost.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from service.store.models import Run, RunStatus, TriggerEvent, Workflow

# Every simulated run belongs to this one job.
SIMULATED_JOB: dict[str, Any] = {"job_id": 1, "settings": {"name": "simulated", "tags": {}}}


@dataclass
class SimulatedRun:
    run_id: int
    start_ms: int
    end_ms: int  # when it ends (in the future while active)

    def to_api(self, now_ms: int) -> dict[str, Any]:
        done = now_ms >= self.end_ms
        state = (
            {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS", "state_message": ""}
            if done
            else {"life_cycle_state": "RUNNING", "state_message": ""}
        )
        task = {
            "run_id": self.run_id * 10,
            "task_key": "t",
            "attempt_number": 0,
            "state": state,
            "start_time": self.start_ms,
            "end_time": self.end_ms if done else 0,
        }
        return {
            "run_id": self.run_id,
            "job_id": 1,
            "state": state,
            "start_time": self.start_ms,
            "end_time": self.end_ms if done else 0,
            "tasks": [task],
        }


@dataclass
class JobsSimulator:
    runs: dict[int, SimulatedRun] = field(default_factory=dict)
    requests: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, path)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # run-now / runs/submit arrivals: idempotency token -> first arrival (time.time())
    submissions: dict[str, float] = field(default_factory=dict)

    def add(self, run: SimulatedRun) -> None:
        with self.lock:
            self.runs[run.run_id] = run

    def count(self, path: str | None = None, since: float = 0.0) -> int:
        with self.lock:
            return sum(1 for t, p in self.requests if t >= since and (path is None or p == path))

    def times(self) -> list[float]:
        with self.lock:
            return [t for t, _ in self.requests]

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        now_ms = int(time.time() * 1000)
        with self.lock:
            self.requests.append((time.monotonic(), path))
            runs = list(self.runs.values())
        if path.endswith("/jobs/runs/list"):
            return 200, self._list(runs, query, now_ms)
        if path.endswith("/jobs/runs/get"):
            run = self.runs.get(int(query.get("run_id", "0")))
            if run is None:
                return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "no such run"}
            return 200, run.to_api(now_ms)
        if path.endswith("/jobs/runs/get-output"):
            return 200, {"metadata": {}}
        if path.endswith("/jobs/runs/cancel") or path.endswith("/jobs/reset"):
            return 200, {}
        if path.endswith("/jobs/list"):
            return 200, {"jobs": [SIMULATED_JOB]}
        if path.endswith("/jobs/get"):
            return 200, SIMULATED_JOB
        if path.endswith("/jobs/create"):
            return 200, {"job_id": 1}
        if path.endswith("/jobs/run-now") or path.endswith("/jobs/runs/submit"):
            return 200, {"run_id": self._submitted(query.get("idempotency_token", ""), now_ms)}
        return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": path}

    def _submitted(self, token: str, now_ms: int) -> int:
        with self.lock:
            self.submissions.setdefault(token, time.time())
            run_id = 10_000 + list(self.submissions).index(token)
            if run_id not in self.runs:
                # Long-running: the benchmark measures submission, not the run.
                self.runs[run_id] = SimulatedRun(run_id, now_ms, now_ms + 3_600_000)
            return run_id

    @staticmethod
    def _list(runs: list[SimulatedRun], query: dict[str, str], now_ms: int) -> dict[str, Any]:
        active_only = query.get("active_only") == "true"
        completed_only = query.get("completed_only") == "true"
        start_from = int(query.get("start_time_from", "0"))
        start_to = int(query.get("start_time_to", str(2**62)))
        limit = min(int(query.get("limit", "20")), 25)
        offset = int(query.get("page_token", "0") or 0)
        chosen = [
            r
            for r in runs
            if start_from <= r.start_ms <= start_to
            and (not active_only or now_ms < r.end_ms)
            and (not completed_only or now_ms >= r.end_ms)
        ]
        chosen.sort(key=lambda r: (-r.start_ms, -r.run_id))  # newest first
        page = chosen[offset : offset + limit]
        body: dict[str, Any] = {"runs": [r.to_api(now_ms) for r in page]}
        if offset + limit < len(chosen):
            body["has_more"] = True
            body["next_page_token"] = str(offset + limit)
        return body


def seed_running_runs(sessions: sessionmaker[Session], runs: list[SimulatedRun]) -> dict[int, str]:
    """A Lockgate store watching ``runs``: one workflow, a running Run per simulated run
    (submitted at its start). Returns Lockgate run ids by Databricks run id."""
    ids: dict[int, str] = {}
    with sessions.begin() as session:
        workflow = Workflow(
            name="bench",
            source={
                "name": "bench",
                "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/x"}],
            },
        )
        session.add(workflow)
        session.flush()
        for sim in runs:
            event = TriggerEvent(
                source="manual",
                source_name="bench",
                dedupe_key=str(sim.run_id),
                workflow_id=workflow.id,
                status="dispatched",
            )
            session.add(event)
            session.flush()
            run = Run(
                workflow_id=workflow.id,
                trigger_event_id=event.id,
                status=RunStatus.RUNNING,
                databricks_run_id=sim.run_id,
                submitted_at=datetime.fromtimestamp(sim.start_ms / 1000, tz=UTC),
            )
            session.add(run)
            session.flush()
            ids[sim.run_id] = run.id
    return ids


def requests_in_busiest_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        best = max(best, bisect.bisect_right(times, start + window) - i)
    return best


@contextmanager
def serve_simulator(simulator: JobsSimulator) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                body = json.loads(self.rfile.read(length) or b"{}")
                query.update({k: str(v) for k, v in body.items()})
            status, payload = simulator.answer(parts.path, query)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

"""Signed webhooks durably accepted per second, and the ack latency (p50/p99).

Real parts: `lockgate api` (uvicorn, one process) on a SQLite store in WAL mode and a
real Redis for the dispatch messages; each request is verified (HMAC), recorded in the
ledger and committed before its 202. The load generator is a bounded asyncio loop on
loopback with CONCURRENCY requests in flight, each with its own Idempotency-Key.

The usual alternative, measured the same way: a handler that commits each delivery
with a plain insert and no dedupe index, verification or outbox (here: the same API
with dedupe keys all different is the floor; the table prints the raw rate of an
empty FastAPI 202 handler beside it for scale).

    .venv/bin/python -m bench.webhooks [REQUESTS] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

from service.embedded.redis_server import redis_reachable, start_private_redis
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.repositories import workflows as workflows_repo
from service.triggers.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.factories import settings_env
from tests.servers import free_port

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-hook-secret-0123456789abcdef"


async def _load(url: str, requests: int, concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(requests):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal failures
            while True:
                try:
                    n = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                body = f'{{"date": "2026-11-25", "n": {n}}}'.encode()
                ts = str(int(time.time()))
                headers = {
                    "Content-Type": "application/json",
                    TIMESTAMP_HEADER: ts,
                    SIGNATURE_HEADER: sign(SECRET, ts, body),
                    IDEMPOTENCY_HEADER: f"bench-{n}",
                }
                started = time.perf_counter()
                response = await client.post("/hooks/bench", content=body, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 202:
                    failures += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return elapsed, latencies, failures


def _wait(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the API did not start")


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    with tempfile.TemporaryDirectory() as tmp:
        redis_process = None
        redis_url = "redis://127.0.0.1:6379/13"
        if not redis_reachable(redis_url, timeout=0.5):
            redis_url, redis_process = start_private_redis(Path(tmp) / "redis")
        port = free_port()
        settings = Settings(
            data_dir=Path(tmp) / "data",
            redis_url=redis_url,
            queue_prefix=f"bench-{uuid.uuid4().hex[:8]}",
            api_port=port,
            databricks_token="local-dev-token",
        )
        upgrade(settings.resolved_database_url)
        sessions = make_session_factory(make_engine(settings.resolved_database_url))
        with sessions.begin() as session:
            workflows_repo.create_workflow(
                session,
                name="bench",
                source={
                    "name": "bench",
                    "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/x"}],
                },
            )
            workflows_repo.create_hook(
                session,
                name="bench",
                workflow_name="bench",
                secret=SECRET,
                parameters={"d": "$.date"},
            )
        env = {**settings_env(settings), "PYTHONPATH": str(REPO)}
        api = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "api"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(url)
            asyncio.run(_load(url, 200, concurrency))  # warm up
            elapsed, latencies, failures = asyncio.run(_load(url, requests, concurrency))
        finally:
            api.terminate()
            api.wait(timeout=20)
            if redis_process is not None:
                redis_process.terminate()
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
        print(f"signed webhooks: {requests} requests, {concurrency} in flight, one API process")
        print(f"  accepted/s     {requests / elapsed:8.0f}")
        print(f"  ack p50        {p50:8.1f} ms")
        print(f"  ack p99        {p99:8.1f} ms")
        print(f"  non-202        {failures:8d}")
        print(f"  cpus           {os.cpu_count()}")


if __name__ == "__main__":
    main()

"""Signed webhooks durably accepted per second, and the ack latency (p50/p99).

Real parts: `lockgate api` (uvicorn) on a SQLite store in WAL mode and a real Redis for
the dispatch messages; each request is verified (HMAC), recorded in the ledger with its
own Idempotency-Key and committed (group commit, one fsync per batch) before its 202.
After each run the bench checks that every acknowledged delivery is one accepted event.

Rows printed, each measured the same way:

- ``empty FastAPI 202``: a handler that reads the body and answers 202, under the same
  server and load: the ceiling of this machine for any handler.
- ``group commit``: Lockgate as configured (one ledger writer per API process, batches
  of whatever waits).
- ``one commit each``: the same code with batches of one (``max_batch=1``): a
  transaction and an fsync per delivery, the usual way.

Besides rate and latency each row prints the server's CPU time per request (all its
processes, from /proc) and what that allows on one free core: on a machine shared with
other work that figure moves much less than the rate does. The load generator is a
closed loop of CONCURRENCY keep-alive connections on loopback speaking HTTP/1.1 over
plain asyncio streams; requests are signed before the clock starts, and its own CPU per
request is printed too (it shares the 2 cores with the server).

    .venv/bin/python -m bench.webhooks [REQUESTS] [CONCURRENCY] [--rounds N]
        [--only empty|group|each] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from service.embedded.redis_server import redis_reachable, start_private_redis
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import TriggerEvent
from service.store.repositories import workflows as workflows_repo
from service.triggers.webhook import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.factories import settings_env
from tests.servers import free_port

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-hook-secret-0123456789abcdef"
ROWS = ("empty", "group", "each")
_DEFAULT_MAX_BATCH: int = Settings.model_fields["webhook_commit_max_batch"].default


@dataclass(frozen=True)
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float
    failures: int
    server_cpu_us: float = 0.0  # the server's CPU time per request (user + system)
    loader_cpu_us: float = 0.0  # this load generator's, which shares the machine


def empty_app() -> FastAPI:
    """The scale row: reads the body and answers 202 (served with --factory)."""
    app = FastAPI()

    @app.post("/hooks/{name}", status_code=202)
    async def accept(name: str, request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"event_id": name}, status_code=202)

    return app


def _signed_requests(count: int, run: str) -> list[bytes]:
    requests = []
    for n in range(count):
        body = f'{{"date": "2026-11-25", "n": {n}}}'.encode()
        ts = str(int(time.time()))
        head = (
            "POST /hooks/bench HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"{TIMESTAMP_HEADER}: {ts}\r\n"
            f"{SIGNATURE_HEADER}: {sign(SECRET, ts, body)}\r\n"
            f"{IDEMPOTENCY_HEADER}: {run}-{n}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


async def _load(port: int, requests: Sequence[bytes], concurrency: int) -> Figures:
    latencies: list[float] = []
    failures = 0
    pending = iter(requests)

    async def connection() -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for request in pending:
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                if head[9:12] != b"202":
                    failures += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return Figures(
        rate=len(requests) / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        failures=failures,
    )


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited on start")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def _cpu_seconds(pid: int) -> float:
    """CPU time so far (user + system) of a process and its live children, from /proc."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            own_pid, rest = stat.read_text().split(" ", 1)
        except OSError:  # exited meanwhile
            continue
        fields = rest.rsplit(")", 1)[1].split()
        if int(own_pid) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def _server(command: list[str], env: dict[str, str], port: int) -> Iterator[int]:
    process = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", process)
        yield process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def _measure(port: int, pid: int, requests: int, concurrency: int, run: str) -> Figures:
    warm = _signed_requests(200, f"{run}-warm")
    asyncio.run(_load(port, warm, concurrency))
    signed = _signed_requests(requests, run)
    cpu_before, loader_before = _cpu_seconds(pid), time.process_time()
    figures = asyncio.run(_load(port, signed, concurrency))
    cpu_us = (_cpu_seconds(pid) - cpu_before) / requests * 1e6
    loader_us = (time.process_time() - loader_before) / requests * 1e6
    return dataclasses.replace(figures, server_cpu_us=cpu_us, loader_cpu_us=loader_us)


def _setup_store(settings: Settings) -> None:
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine).begin() as session:
        workflows_repo.create_workflow(
            session,
            name="bench",
            source={
                "name": "bench",
                "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/x"}],
            },
        )
        workflows_repo.create_hook(
            session, name="bench", workflow_name="bench", secret=SECRET, parameters={"d": "$.date"}
        )
    engine.dispose()


def _accepted_events(settings: Settings, run: str) -> int:
    engine = make_engine(settings.resolved_database_url)
    with make_session_factory(engine)() as session:
        count = session.scalar(
            select(func.count())
            .select_from(TriggerEvent)
            .where(TriggerEvent.status != "ignored", TriggerEvent.dedupe_key.like(f"key:{run}-%"))
            .where(TriggerEvent.dedupe_key.not_like(f"key:{run}-warm-%"))
        )
    engine.dispose()
    return int(count or 0)


def _lockgate_row(
    tmp: Path, redis_url: str, requests: int, concurrency: int, max_batch: int, workers: int
) -> Figures:
    port = free_port()
    settings = Settings(
        data_dir=tmp / f"data-{uuid.uuid4().hex[:6]}",
        redis_url=redis_url,
        queue_prefix=f"bench-{uuid.uuid4().hex[:8]}",
        api_port=port,
        databricks_token="local-dev-token",
        webhook_commit_max_batch=max_batch,
        api_workers=workers,
    )
    _setup_store(settings)
    env = {**settings_env(settings), "PYTHONPATH": str(REPO)}
    run = uuid.uuid4().hex[:8]
    with _server([sys.executable, "-m", "service.cli", "api"], env, port) as pid:
        figures = _measure(port, pid, requests, concurrency, run)
    recorded = _accepted_events(settings, run)
    if recorded != requests - figures.failures:
        raise RuntimeError(f"{requests - figures.failures} acknowledged, {recorded} recorded")
    _drop_queue(redis_url, settings.queue_prefix)
    return figures


def _empty_row(requests: int, concurrency: int) -> Figures:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.webhooks:empty_app", "--factory"]
    command += ["--port", str(port), "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with _server(command, env, port) as pid:
        return _measure(port, pid, requests, concurrency, "empty")


def _drop_queue(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", type=int, nargs="?", default=5000)
    parser.add_argument("concurrency", type=int, nargs="?", default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", choices=ROWS, action="append")
    parser.add_argument("--workers", type=int, default=1, help="API processes (Lockgate rows)")
    args = parser.parse_args()
    rows = args.only or list(ROWS)
    with tempfile.TemporaryDirectory() as tmp:
        redis_process = None
        redis_url = "redis://127.0.0.1:6379/13"
        if not redis_reachable(redis_url, timeout=0.5):
            redis_url, redis_process = start_private_redis(Path(tmp) / "redis")
        print(
            f"signed webhooks: {args.requests} requests, {args.concurrency} in flight, "
            f"{args.workers} API process(es), {os.cpu_count()} cpus, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        print(
            f"  {'row':18} {'accepted/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-202':>8}"
            f" {'server CPU/req':>15} {'1-core ceiling/s':>17} {'loader CPU/req':>15}"
        )
        try:
            for _ in range(args.rounds):
                for row in rows:
                    if row == "empty":
                        figures = _empty_row(args.requests, args.concurrency)
                        label = "empty FastAPI 202"
                    else:
                        batch = 1 if row == "each" else _DEFAULT_MAX_BATCH
                        figures = _lockgate_row(
                            Path(tmp),
                            redis_url,
                            args.requests,
                            args.concurrency,
                            batch,
                            args.workers,
                        )
                        label = "one commit each" if row == "each" else "group commit"
                    print(
                        f"  {label:18} {figures.rate:10.0f} {figures.p50_ms:8.1f} "
                        f"{figures.p99_ms:8.1f} {figures.failures:8d} "
                        f"{figures.server_cpu_us:12.0f} us {1e6 / figures.server_cpu_us:17.0f} "
                        f"{figures.loader_cpu_us:12.0f} us",
                        flush=True,
                    )
        finally:
            if redis_process is not None:
                redis_process.terminate()


if __name__ == "__main__":
    main()

"""Blob detection: listing requests per poll and poll time as a container grows, on
Azurite (started here from .tools/, as the tests do).

Layout: time-partitioned paths, ``landing/2026/11/<day>/<hour>/part-N.csv``, 100 blobs
an hour-folder. After each growth step one new blob lands and one listener poll runs;
printed: the poll's listing requests and time (the detection delay is at most the poll
interval plus this poll time), and beside it the usual alternative: a flat listing of
every blob under the prefix (``list_blobs``, 5,000 a page), compared with a seen set.

    .venv/bin/python -m bench.blob_listing [SIZES]     # default 5000,20000,50000,100000

Uploads go through 32 threads, each with its own client (one connection each: a shared
client's pool of 10 would make the rest reconnect), to an in-memory Azurite, which takes
them at roughly a thousand a second on two cores, so 100,000 blobs are there in minutes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from azure.storage.blob import BlobServiceClient, ContainerClient
from pydantic import SecretStr

from service.embedded.redis_server import redis_reachable, start_private_redis
from service.runs.queue import CeleryTaskSender, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models.triggers import FileWatch
from service.store.repositories import workflows as workflows_repo
from service.triggers.listener import Listener
from tests.servers import free_port
from tests.triggers.conftest import AZURITE_ACCOUNT, AZURITE_KEY, _azurite_binary

PER_FOLDER = 100
UPLOAD_THREADS = 32
DEFAULT_SIZES = "5000,20000,50000,100000"


def _name(n: int) -> str:
    hour = n // PER_FOLDER
    return f"landing/2026/11/{1 + hour // 24:02d}/{hour % 24:02d}/part-{n % PER_FOLDER:03d}.csv"


def main() -> None:
    sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SIZES).split(",")]
    tmp = Path(tempfile.mkdtemp())
    port = free_port()
    azurite = subprocess.Popen(
        [str(_azurite_binary()), "--blobHost", "127.0.0.1", "--blobPort", str(port),
         "--inMemoryPersistence", "--silent", "--skipApiVersionCheck", "--disableTelemetry"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    blob_url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    connection = (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
        f"AccountKey={AZURITE_KEY};BlobEndpoint={blob_url};"
    )
    redis_process = None
    try:
        for _ in range(300):
            if azurite.poll() is not None:
                raise SystemExit(f"azurite exited with {azurite.returncode}")
            try:
                httpx.get(f"{blob_url}?comp=list", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        redis_url = "redis://127.0.0.1:6379/13"
        if not redis_reachable(redis_url, timeout=0.5):
            redis_url, redis_process = start_private_redis(tmp / "redis")
        settings = Settings(
            data_dir=tmp / "data",
            redis_url=redis_url,
            queue_prefix=f"bench-{uuid.uuid4().hex[:8]}",
            databricks_token=SecretStr("x"),
            blob_connection_string=SecretStr(connection),
        )
        upgrade(settings.resolved_database_url)
        sessions = make_session_factory(make_engine(settings.resolved_database_url))
        container = BlobServiceClient.from_connection_string(connection).get_container_client(
            "bench"
        )
        container.create_container()
        with sessions.begin() as session:
            workflows_repo.create_workflow(
                session,
                name="ingest",
                source={
                    "name": "ingest",
                    "trigger": {"file_arrival": {"url": f"{blob_url}/bench/landing/"}},
                    "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/x"}],
                },
            )
        clock_now = [datetime.now(UTC)]
        celery = make_celery(settings, name="bench-blob")
        listener = Listener(
            sessions, CeleryTaskSender(celery), settings, clock=lambda: clock_now[0]
        )
        listener.startup()
        listener.tick()
        with sessions() as session:
            watch_id = session.query(FileWatch).one().id
        print(
            f"{'blobs':>8} {'poll requests':>14} {'poll ms':>8} {'flat list requests':>19}"
            f" {'flat list ms':>13} {'upload/s':>9}",
            flush=True,
        )
        written = 0
        per_thread = threading.local()

        def upload(n: int) -> None:
            if not hasattr(per_thread, "client"):
                per_thread.client = ContainerClient.from_connection_string(connection, "bench")
            per_thread.client.upload_blob(_name(n), b"x")

        pool = ThreadPoolExecutor(UPLOAD_THREADS)
        for target in sizes:
            began = time.perf_counter()
            list(pool.map(upload, range(written, target - 1), chunksize=64))
            upload_rate = (target - 1 - written) / max(time.perf_counter() - began, 1e-9)
            written = target - 1
            clock_now[0] += timedelta(seconds=30)
            listener.poll(watch_id)  # takes in the growth step (not timed)
            container.upload_blob(_name(written), b"new")
            written += 1
            clock_now[0] += timedelta(seconds=30)
            began = time.perf_counter()
            result = listener.poll(watch_id)
            took = (time.perf_counter() - began) * 1000
            assert result is not None and result.fired is not None, "the new blob was missed"
            flat_requests = 0

            def count(_response: object) -> None:
                nonlocal flat_requests
                flat_requests += 1

            began = time.perf_counter()
            for _ in container.list_blobs(
                name_starts_with="landing/", results_per_page=5000, raw_response_hook=count
            ):
                pass
            flat_ms = (time.perf_counter() - began) * 1000
            print(
                f"{written:>8} {result.requests:>14} {took:>8.0f} {flat_requests:>19}"
                f" {flat_ms:>13.0f} {upload_rate:>9.0f}",
                flush=True,
            )
        pool.shutdown()
        listener.shutdown()
        celery.close()
    finally:
        azurite.terminate()
        azurite.wait(timeout=10)
        if redis_process is not None:
            redis_process.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

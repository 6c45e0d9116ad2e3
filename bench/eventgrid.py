"""File arrival by Event Grid push, beside polling: from a blob's arrival to its trigger
event committed in the ledger (and its dispatch message sent).

Real parts: `lockgate api` (uvicorn, one process) on a SQLite store in WAL mode and a real
Redis; one file watch on ``https://benchacct.blob.core.windows.net/landing/in/`` whose
seen set already holds SEEN files (taken in by a first listener poll). Each push is one
``Microsoft.Storage.BlobCreated`` event (Event Grid schema) for a new blob, sent one at a
time (a trickle: latency, not throughput); the latency is the POST's round trip, which
ends after the ledger commit and the dispatch message.

The alternative, measured on the same watch: the listener polling the local-folder source
(``local_inbox_dir``, the embedded default; the same seen set and checkpoint code as
Azure Blob). A file is written, then one poll runs and fires it; the delay a file sees
is the wait for the next poll (uniform over the interval) plus that poll's time, printed
for the default 10 s interval and for 1 s (Azure Blob; the local-folder source also waits
a 1 s settle time before it takes a file, so that a file still being written is not
taken).

    .venv/bin/python -m bench.eventgrid [PUSHES] [SEEN]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pydantic import SecretStr

from service.embedded.redis_server import redis_reachable, start_private_redis
from service.runs.queue import CeleryTaskSender, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models.triggers import FileWatch
from service.store.repositories import workflows as workflows_repo
from service.triggers.listener import Listener
from tests.factories import settings_env
from tests.servers import free_port

REPO = Path(__file__).resolve().parents[1]
ACCESS_KEY = "bench-eventgrid-key-0123456789"
LOCATION = "https://benchacct.blob.core.windows.net/landing/in/"
POLL_INTERVALS = (10.0, 1.0)


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[max(0, int(0.99 * len(ordered)) - 1)]


def _blob_created(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": str(uuid.uuid4()),
            "eventType": "Microsoft.Storage.BlobCreated",
            "subject": f"/blobServices/default/containers/landing/blobs/in/push-{n:06d}.csv",
            "eventTime": datetime.now(UTC).isoformat(),
            "dataVersion": "",
            "data": {"url": f"{LOCATION}push-{n:06d}.csv", "eTag": f"0x{n:016X}", "api": "PutBlob"},
        }
    ]


def _wait(url: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the API did not start")


def _push(url: str, pushes: int) -> list[float]:
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for n in range(-20, pushes):  # the first 20 warm up and are not counted
            began = time.perf_counter()
            response = client.post(
                f"/events/eventgrid?key={ACCESS_KEY}", json=_blob_created(n + 20)
            )
            took = time.perf_counter() - began
            if response.status_code != 200 or len(response.json()["event_ids"]) != 1:
                raise SystemExit(
                    f"push {n} did not trigger: {response.status_code} {response.text}"
                )
            if n >= 0:
                latencies.append(took)
            time.sleep(0.01)
    return latencies


def _poll(listener: Listener, watch_id: str, inbox: Path) -> list[float]:
    times: list[float] = []
    for n in range(50):
        path = inbox / f"polled-{n:04d}.csv"
        path.write_text("x")
        # The local source skips files changed in the last second (still being written);
        # backdating leaves only the listing and trigger cost to measure.
        settled = time.time() - 2
        os.utime(path, (settled, settled))
        began = time.perf_counter()
        result = listener.poll(watch_id)
        times.append(time.perf_counter() - began)
        if result is None or result.fired is None:
            raise SystemExit(f"poll {n} missed the new file: {result}")
    return times


def main(pushes: int, seen: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    redis_process = None
    redis_url = "redis://127.0.0.1:6379/13"
    if not redis_reachable(redis_url, timeout=0.5):
        redis_url, redis_process = start_private_redis(tmp / "redis")
    port = free_port()
    settings = Settings(
        data_dir=tmp / "data",
        redis_url=redis_url,
        queue_prefix=f"bench-{uuid.uuid4().hex[:8]}",
        api_port=port,
        databricks_token=SecretStr("local-dev-token"),
        local_inbox_dir=tmp / "inbox",
        eventgrid_access_key=SecretStr(ACCESS_KEY),
    )
    upgrade(settings.resolved_database_url)
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    with sessions.begin() as session:
        workflows_repo.create_workflow(
            session,
            name="ingest",
            source={
                "name": "ingest",
                "trigger": {"file_arrival": {"url": LOCATION}},
                "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/x"}],
            },
        )
    # The local source reads <inbox>/<container>/<path>: the same watch, on local disk.
    inbox = tmp / "inbox" / "landing" / "in"
    inbox.mkdir(parents=True)
    for n in range(seen):
        (inbox / f"old-{n:06d}.csv").write_text("x")
    celery = make_celery(settings, name="bench-eventgrid")
    listener = Listener(sessions, CeleryTaskSender(celery), settings)
    listener.startup()
    listener.tick()  # syncs the watch and takes in the SEEN files (they do not trigger)
    with sessions() as session:
        watch = session.query(FileWatch).one()
        assert watch.initialized, "the first poll did not initialize the watch"
        watch_id = watch.id
    api = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "api"],
        env={**settings_env(settings), "PYTHONPATH": str(REPO)},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url)
        pushed = _push(url, pushes)
        polls = _poll(listener, watch_id, inbox)
    finally:
        api.terminate()
        api.wait(timeout=20)
        listener.shutdown()
        celery.close()
        if redis_process is not None:
            redis_process.terminate()
    p50, p99 = _percentiles(pushed)
    poll50, poll99 = _percentiles(polls)
    print(f"file arrival -> trigger committed; watch with {seen} files already seen")
    print(f"{'path':44} {'p50 ms':>9} {'p99 ms':>9}")
    rows = [
        (f"Event Grid push (n={pushes}, one API process)", p50, p99),
        (f"one poll that fires (n={len(polls)}), time only", poll50, poll99),
    ]
    for label, low, high in rows:
        print(f"{label:44} {low * 1e3:9.1f} {high * 1e3:9.1f}")
    for interval in POLL_INTERVALS:
        label = f"polling every {interval:g} s (wait + poll)"
        print(
            f"{label:44} {(interval * 0.5 + poll50) * 1e3:9.1f} "
            f"{(interval * 0.99 + poll99) * 1e3:9.1f}"
        )


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
        int(sys.argv[2]) if len(sys.argv) > 2 else 10_000,
    )

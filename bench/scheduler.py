"""Scheduler fire lateness with 10,000 schedules, and no double fire with two replicas.

Real parts: the SQLite store (WAL), real Redis for the dispatch messages, the real
`Scheduler` (two replicas, in two threads, sharing the store). 10,000 workflows each
carry a Quartz schedule; their seconds are spread over the minute (``S * * * * ?`` with
S = i mod 60), so about 167 fire every second. Lateness is recorded by the scheduler
itself: the time between a fire's due instant and the moment its event is written.

The usual alternative, measured the same way: one replica ticking every 1 s (a cron
loop that wakes on the second instead of sleeping until the next fire).

    .venv/bin/python -m bench.scheduler [SCHEDULES] [SECONDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from service.embedded.redis_server import redis_reachable, start_private_redis
from service.runs.queue import CeleryTaskSender, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import TriggerEvent, Workflow
from service.triggers.scheduler import Scheduler


def _workflows(count: int) -> list[Workflow]:
    return [
        Workflow(
            name=f"s{i:05d}",
            source={
                "name": f"s{i:05d}",
                "schedule": {"cron": f"{i % 60} * * * * ?"},
                "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/x"}],
            },
        )
        for i in range(count)
    ]


def _run(settings: Settings, replicas: int, seconds: float, tick_cap: float | None) -> None:
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    celery = make_celery(settings, name="bench-scheduler")
    sender = CeleryTaskSender(celery)
    configured = settings.model_copy(
        update={"scheduler_tick_seconds": tick_cap or 1.0, "scheduler_sync_seconds": 3600}
    )
    schedulers = [Scheduler(sessions, sender, configured) for _ in range(replicas)]
    began = time.perf_counter()
    for scheduler in schedulers:
        scheduler.startup()
    print(f"  definitions read in {time.perf_counter() - began:.1f} s ({replicas} replicas)")
    started = datetime.now(UTC)

    def loop(scheduler: Scheduler) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            wait = scheduler.tick()
            if tick_cap is None:
                time.sleep(1.0)
            else:
                time.sleep(max(0.0, min(wait, end - time.monotonic())))

    threads = [threading.Thread(target=loop, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as session:
        events = list(
            session.scalars(
                select(TriggerEvent).where(
                    TriggerEvent.source == "schedule", TriggerEvent.received_at >= started
                )
            )
        )
    celery.close()
    # Fires due while the replicas were still reading 10,000 definitions are a startup
    # backlog, not lateness: measure from 5 s into the loop (the backlog drains by then).
    steady = started + timedelta(seconds=5)
    late = sorted(
        e.payload["late_ms"]
        for e in events
        if e.status != "ignored" and datetime.fromisoformat(e.payload["fire_at"]) >= steady
    )
    fires = Counter((e.source_name, e.payload["fire_at"]) for e in events)
    doubles = sum(1 for n in fires.values() if n > 1)
    if not late:
        print("  no fires")
        return
    print(f"  fires measured {len(late):8d}  ({len(late) / (seconds - 5):.0f}/s)")
    print(f"  lateness p50   {statistics.median(late):8.0f} ms")
    print(f"  lateness p99   {late[int(len(late) * 0.99) - 1]:8.0f} ms")
    print(f"  lateness max   {late[-1]:8.0f} ms")
    print(f"  double fires   {doubles:8d}")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    with tempfile.TemporaryDirectory() as tmp:
        redis_process = None
        redis_url = "redis://127.0.0.1:6379/13"
        if not redis_reachable(redis_url, timeout=0.5):
            redis_url, redis_process = start_private_redis(Path(tmp) / "redis")
        for label, replicas, cap in (
            ("Lockgate: 2 replicas, sleep until the next fire", 2, 0.25),
            ("usual alternative: 1 replica, 1 s ticks", 1, None),
        ):
            data = Path(tmp) / label[:8].replace(" ", "_").replace(":", "")
            settings = Settings(
                data_dir=data,
                redis_url=redis_url,
                queue_prefix=f"bench-{uuid.uuid4().hex[:8]}",
                databricks_token="x",
            )
            upgrade(settings.resolved_database_url)
            sessions = make_session_factory(make_engine(settings.resolved_database_url))
            with sessions.begin() as session:
                session.add_all(_workflows(count))
            print(f"{label}: {count} schedules, {seconds:.0f} s")
            _run(settings, replicas, seconds, cap)
        if redis_process is not None:
            redis_process.terminate()


if __name__ == "__main__":
    main()

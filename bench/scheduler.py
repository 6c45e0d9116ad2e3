"""Scheduler fire lateness with 10,000 schedules, and no double fire with two replicas.

Real parts: the SQLite store (WAL), real Redis for the dispatch messages, the real
`Scheduler` (two replicas, each a process of its own as deployed, sharing the store).
10,000 workflows each carry a Quartz schedule; their seconds are spread over the minute
(``S * * * * ?`` with S = i mod 60), so about 167 fire every second, all due at the same
instant. The replicas run the real loop (``Scheduler.run``) with the default settings.

Lateness is the time from a fire's due instant to the moment its dispatch message is
handed to Redis, which happens after the commit of its event: the whole burst counts,
not only the wake-up. "written" is the scheduler's own ``late_ms`` (due instant to the
writing of the event, in the same transaction as the claim).

The usual alternative, measured the same way: one replica ticking every 1 s (a cron
loop that wakes on the second instead of sleeping until the next fire).

    .venv/bin/python -m bench.scheduler [SCHEDULES] [SECONDS]
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.embedded.redis_server import redis_reachable, start_private_redis
from service.runs.queue import DISPATCH_EVENT, CeleryTaskSender, TaskMessage, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import TriggerEvent, Workflow
from service.store.models.triggers import Schedule
from service.triggers.scheduler import Scheduler
from service.triggers.sync import first_fire

_WARM_UP_SECONDS = 2  # first fires are measured from then (connections are warm)


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


class _TimedSender:
    """Notes when each dispatch message leaves the scheduler (after its commit)."""

    def __init__(self, inner: CeleryTaskSender) -> None:
        self._inner = inner
        self.sent_at: dict[str, str] = {}

    def send(self, task_name: str, *args: str) -> None:
        self._inner.send(task_name, *args)
        if task_name == DISPATCH_EVENT:
            self.sent_at[args[0]] = datetime.now(UTC).isoformat()

    def send_many(self, messages: Sequence[TaskMessage]) -> None:
        self._inner.send_many(messages)
        sent_at = datetime.now(UTC).isoformat()
        for task_name, args in messages:
            if task_name == DISPATCH_EVENT:
                self.sent_at[args[0]] = sent_at


def _start_fresh(sessions: sessionmaker[Session]) -> datetime:
    """Moves every schedule to its first fire after a start instant just ahead: the
    fires that came due while the replicas read 10,000 definitions would otherwise be a
    startup backlog, which is recovery, not lateness."""
    started = datetime.now(UTC) + timedelta(seconds=1)
    with sessions.begin() as session:
        for row in session.scalars(select(Schedule)):
            row.next_fire_at = first_fire(row, started)
    return started


def _replica(
    settings: Settings, every_second: bool, seconds: float, ready: Any, go: Any, out: Path
) -> None:
    """One scheduler process, as deployed: its own engine, broker connection and loop.
    Queues, not shared events, carry the start: a process that dies waiting on a
    multiprocessing Event would leave the parent's ``set`` hanging."""
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    celery = make_celery(settings, name="bench-scheduler")
    sender = _TimedSender(CeleryTaskSender(celery))
    scheduler = Scheduler(sessions, sender, settings)
    scheduler.startup()
    ready.put(out.name)
    go.get()
    threading.Timer(seconds, scheduler.shutdown).start()
    if every_second:
        while not scheduler.should_exit.is_set():
            scheduler.tick()
            time.sleep(1.0)
    else:
        scheduler.run()  # the real loop; it re-reads no definition that did not change
    out.write_text(json.dumps(sender.sent_at))
    celery.close()


def _run(settings: Settings, replicas: int, seconds: float, every_second: bool) -> None:
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    spawn = multiprocessing.get_context("spawn")
    ready = spawn.Queue()
    gos = [spawn.Queue() for _ in range(replicas)]
    outs = [settings.data_dir / f"sent-{n}.json" for n in range(replicas)]
    processes = [
        spawn.Process(target=_replica, args=(settings, every_second, seconds, ready, go, out))
        for go, out in zip(gos, outs, strict=True)
    ]
    began = time.perf_counter()
    for process in processes:
        process.start()
    waiting = replicas
    while waiting:
        try:
            ready.get(timeout=1.0)
            waiting -= 1
        except queue.Empty:
            if any(p.exitcode is not None for p in processes):
                raise SystemExit("a scheduler replica died while reading definitions") from None
    print(f"  definitions read in {time.perf_counter() - began:.1f} s ({replicas} replicas)")
    started = _start_fresh(sessions)
    for go in gos:
        go.put("go")
    for process in processes:
        process.join(timeout=seconds + 120)
        if process.exitcode != 0:
            process.kill()
            raise SystemExit(f"a scheduler replica failed (exit code {process.exitcode})")
    sent_at = {
        event_id: datetime.fromisoformat(at)
        for out in outs
        for event_id, at in json.loads(out.read_text()).items()
    }
    with sessions() as session:
        events = list(
            session.scalars(
                select(TriggerEvent).where(
                    TriggerEvent.source == "schedule", TriggerEvent.received_at >= started
                )
            )
        )
    steady = started + timedelta(seconds=_WARM_UP_SECONDS)
    accepted = [e for e in events if e.status != "ignored"]
    measured = [e for e in accepted if datetime.fromisoformat(e.payload["fire_at"]) >= steady]
    written = sorted(e.payload["late_ms"] for e in measured)
    late = sorted(
        (sent_at[e.id] - datetime.fromisoformat(e.payload["fire_at"])).total_seconds() * 1000
        for e in measured
        if e.id in sent_at
    )
    fires = Counter((e.source_name, e.payload["fire_at"]) for e in accepted)
    doubles = sum(1 for n in fires.values() if n > 1)
    if not late:
        print("  no fires")
        return
    print(f"  fires measured {len(late):8d}  ({len(_seconds(measured))} bursts)")
    print(f"  lateness p50   {statistics.median(late):8.0f} ms")
    print(f"  lateness p99   {late[int(len(late) * 0.99) - 1]:8.0f} ms")
    print(f"  lateness max   {late[-1]:8.0f} ms")
    print(f"  written p99    {written[int(len(written) * 0.99) - 1]:8.0f} ms")
    print(f"  not sent       {len(measured) - len(late):8d}")
    print(f"  not fired      {_missing(sessions, measured):8d}")
    print(f"  double fires   {doubles:8d}")


def _seconds(events: list[TriggerEvent]) -> Counter[datetime]:
    return Counter(datetime.fromisoformat(e.payload["fire_at"]) for e in events)


def _missing(sessions: sessionmaker[Session], measured: list[TriggerEvent]) -> int:
    """Fires due from the first measured second to the last that have no event."""
    with sessions() as session:
        expressions = session.scalars(select(Schedule.expression)).all()
    due_at_second = Counter(int((e or "").split()[0]) for e in expressions)
    fired = _seconds(measured)
    missing, second, last = 0, min(fired), max(fired)
    while second <= last:
        missing += due_at_second[second.second] - fired[second]
        second += timedelta(seconds=1)
    return missing


def _drop_queue(redis_url: str, prefix: str) -> None:
    """The dispatch messages have no consumer here: remove them with their queue."""
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*{prefix}*"):
        client.delete(key)
    client.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    with tempfile.TemporaryDirectory() as tmp:
        redis_process = None
        redis_url = "redis://127.0.0.1:6379/13"
        if not redis_reachable(redis_url, timeout=0.5):
            redis_url, redis_process = start_private_redis(Path(tmp) / "redis")
        for label, replicas, every_second in (
            ("Lockgate: 2 replicas, sleep until the next fire", 2, False),
            ("usual alternative: 1 replica, 1 s ticks", 1, True),
        ):
            data = Path(tmp) / label[:8].replace(" ", "_").replace(":", "")
            settings = Settings(
                data_dir=data,
                redis_url=redis_url,
                queue_prefix=f"bench-{uuid.uuid4().hex[:8]}",
                databricks_token=SecretStr("x"),
            )
            upgrade(settings.resolved_database_url)
            sessions = make_session_factory(make_engine(settings.resolved_database_url))
            with sessions.begin() as session:
                session.add_all(_workflows(count))
            print(f"{label}: {count} schedules, {seconds:.0f} s")
            _run(settings, replicas, seconds, every_second)
            _drop_queue(redis_url, settings.queue_prefix)
        if redis_process is not None:
            redis_process.terminate()


if __name__ == "__main__":
    main()

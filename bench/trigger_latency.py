"""Trigger -> submit latency: from a committed trigger event to the Jobs API call.

Real parts: a Celery worker subprocess (`lockgate worker`, threads pool) on Redis, the
SQLite store, the real dispatch and submission code; the Jobs API is the run-state
simulator (`bench/jobs_simulator.py`), which notes when each run-now arrives.

Each trigger is recorded and committed the way the API does it (`record_trigger`, commit,
then `announce` sends the dispatch message); the latency is from the commit to the
run-now reaching the Jobs API (dispatch task, commit, submit task, run-now).

The usual alternative, measured the same way: no message; a scheduler loop picks up
committed events once a second (Lockgate's own sweeper run as a 1 s tick loop).

    .venv/bin/python -m bench.trigger_latency [COUNT]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pydantic import SecretStr

from bench.jobs_simulator import JobsSimulator, serve_simulator
from bench.worker_process import start_worker
from service.embedded.redis_server import redis_reachable, start_private_redis
from service.runs.queue import CeleryTaskSender, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import Workflow
from service.store.repositories import runs as runs_repo
from service.triggers.ledger import announce, record_trigger


def _measure(
    count: int, settings: Settings, simulator: JobsSimulator, *, announce_: bool
) -> list[float]:
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    with sessions.begin() as session:
        workflow = Workflow(
            name=f"latency-{announce_}",
            source={
                "name": f"latency-{announce_}",
                "max_concurrent_runs": 1000,
                "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/x"}],
            },
        )
        session.add(workflow)
        session.flush()
        workflow_id = workflow.id
    sender = CeleryTaskSender(make_celery(settings))
    committed: dict[str, float] = {}
    for i in range(count):
        with sessions.begin() as session:
            accepted = record_trigger(
                session,
                source="manual",
                source_name=f"latency-{announce_}",
                dedupe_key=f"{announce_}-{i}",
                workflow_id=workflow_id,
                payload={},
                parameters={},
            )
        committed[accepted.event_id] = time.time()
        if announce_:
            announce(sender, accepted)
        time.sleep(0.05)  # a steady trickle, not a burst: latency, not throughput
    deadline = time.monotonic() + 60
    latencies: list[float] = []
    while time.monotonic() < deadline:
        with sessions() as session:
            runs = {
                event_id: runs_repo.get_run_for_event(session, trigger_event_id=event_id)
                for event_id in committed
            }
        tokens = {
            event_id: f"lockgate-{run.id}-1" for event_id, run in runs.items() if run is not None
        }
        if len(tokens) == count and all(t in simulator.submissions for t in tokens.values()):
            latencies = sorted(simulator.submissions[tokens[e]] - committed[e] for e in committed)
            break
        time.sleep(0.2)
    return latencies


def _print(label: str, latencies: list[float]) -> None:
    if not latencies:
        print(f"{label}: did not complete")
        return
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(0.99 * (len(latencies) - 1))] * 1000
    print(
        f"{label:40} n={len(latencies)}  p50 {p50:.1f} ms  p99 {p99:.1f} ms  "
        f"max {latencies[-1] * 1000:.1f} ms"
    )


def main(count: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    redis_process = None
    redis_url = "redis://127.0.0.1:6379/13"
    if not redis_reachable(redis_url, timeout=0.5):
        redis_url, redis_process = start_private_redis(tmp / "redis")
    simulator = JobsSimulator()
    with serve_simulator(simulator) as url:
        for label, announce_, sweep in (
            ("Lockgate (outbox + message)", True, 10.0),
            ("scheduler loop, 1 s tick (alternative)", False, 1.0),
        ):
            data = tmp / f"data-{announce_}"
            settings = Settings(
                data_dir=data,
                database_url=f"sqlite:///{data / 'lockgate.db'}",
                redis_url=redis_url,
                queue_prefix=f"bench-latency-{os.getpid()}-{announce_}",
                databricks_host=url,
                databricks_token=SecretStr("bench"),
                poll_interval_seconds=30.0,
                sweep_interval_seconds=sweep,
                stuck_after_seconds=0.0 if not announce_ else 30.0,
                databricks_requests_per_second=1000.0,
                databricks_request_burst=1000,
                databricks_writes_limit_per_second=2000.0,  # run-now unmetered too
            )
            data.mkdir(parents=True)
            upgrade(settings.resolved_database_url)
            worker = start_worker(settings)
            try:
                time.sleep(4)  # let the worker connect
                _print(label, _measure(count, settings, simulator, announce_=announce_))
            finally:
                worker.terminate()
                worker.wait(timeout=20)
    if redis_process is not None:
        redis_process.terminate()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)

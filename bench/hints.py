"""Completion notice with Databricks notification hints vs polling alone (500 runs).

Real parts: the Lockgate API (uvicorn, in this process) receiving the hints, a Celery
worker subprocess (`lockgate worker --beat`) confirming each with one runs/get and
running the poll sweep, Redis, a SQLite store. The Jobs API is the run-state simulator
(`bench/jobs_simulator.py`), which here also posts Databricks' `jobs.on_success`
notification to the Lockgate destination when each run ends, as a workspace does.

Both modes watch the same N runs, all ending within END_WINDOW seconds:
- hints: notifications on, the poll sweep slowed to LOCKGATE_HINTED_POLL_INTERVAL_SECONDS
  (the safety net);
- polling alone: no notifications, the poll sweep at LOCKGATE_POLL_INTERVAL_SECONDS.

Prints, per mode, the lag from a run's end to Lockgate recording it (p50, p99, max) and
the Jobs API requests spent. Goal (DESIGN): with hints, an end noticed < 2 s (p99).

    .venv/bin/python -m bench.hints [N]
"""

from __future__ import annotations

import base64
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from pydantic import SecretStr

from bench.jobs_simulator import JobsSimulator, SimulatedRun, seed_running_runs, serve_simulator
from bench.worker_process import start_worker
from service.app import create_app
from service.embedded.redis_server import redis_reachable, start_private_redis
from service.runs.hints import HINT_USERNAME, hint_password
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import Run, RunStatus
from tests.servers import serve_app

END_WINDOW = 60.0
POLL_INTERVAL = Settings().poll_interval_seconds
HINTED_POLL_INTERVAL = Settings().hinted_poll_interval_seconds


def _runs(n: int, t0: float) -> list[SimulatedRun]:
    rng = random.Random(n)
    return [
        SimulatedRun(
            run_id=5000 + i,
            start_ms=int((t0 - rng.uniform(0, 60)) * 1000),
            end_ms=int((t0 + 5 + rng.uniform(0, END_WINDOW)) * 1000),
        )
        for i in range(n)
    ]


def _post_hints(runs: list[SimulatedRun], url: str, auth: str, stop: threading.Event) -> None:
    """What the workspace does: a notification to the destination as each run ends."""
    with httpx.Client(timeout=10) as client:
        for run in sorted(runs, key=lambda r: r.end_ms):
            delay = run.end_ms / 1000 - time.time()
            if delay > 0 and stop.wait(delay):
                return
            client.post(
                url,
                json={
                    "event_type": "jobs.on_success",
                    "workspace_id": "1",
                    "run": {"run_id": str(run.run_id)},
                    "job": {"job_id": "1", "name": "bench"},
                },
                headers={"Authorization": f"Basic {auth}"},
            )


def measure(n: int, redis_url: str, tmp: Path, *, hints: bool) -> dict[str, float]:
    simulator = JobsSimulator()
    runs = _runs(n, time.time() + 5)  # +5 s: the worker's start-up
    for run in runs:
        simulator.add(run)
    data = tmp / ("hints" if hints else "polling")
    data.mkdir(parents=True)
    with serve_simulator(simulator) as jobs_url:
        settings = Settings(
            data_dir=data,
            database_url=f"sqlite:///{data / 'lockgate.db'}",
            redis_url=redis_url,
            queue_prefix=f"bench-hints-{int(time.time())}-{hints}",
            databricks_host=jobs_url,
            databricks_token=SecretStr("bench"),
            databricks_hint_secret=SecretStr("bench-hint-secret") if hints else None,
        )
        upgrade(settings.resolved_database_url)
        sessions = make_session_factory(make_engine(settings.resolved_database_url))
        ids = seed_running_runs(sessions, runs)
        worker = start_worker(settings)
        stop = threading.Event()
        with serve_app(create_app(settings)) as api_url:
            poster = None
            if hints:
                password = hint_password(settings, "default")
                auth = base64.b64encode(f"{HINT_USERNAME}:{password}".encode()).decode()
                poster = threading.Thread(
                    target=_post_hints,
                    args=(runs, f"{api_url}/hooks/databricks/default", auth, stop),
                    daemon=True,
                )
                poster.start()
            started = simulator.count()
            deadline = time.time() + END_WINDOW + 10 + 2 * HINTED_POLL_INTERVAL
            while time.time() < deadline:
                with sessions() as session:
                    left = session.query(Run).filter(Run.status.in_(RunStatus.ACTIVE)).count()
                if left == 0:
                    break
                time.sleep(0.5)
            stop.set()
            if poster is not None:
                poster.join(timeout=10)
        worker.terminate()
        worker.wait(timeout=30)
        requests = simulator.count() - started
    ends = {ids[r.run_id]: r.end_ms / 1000 for r in runs}
    with sessions() as session:
        recorded = {
            run.id: run.updated_at.timestamp()
            for run in session.query(Run).filter(Run.status.not_in(RunStatus.ACTIVE))
        }
    lags = sorted(recorded[i] - ends[i] for i in recorded)
    return {
        "runs": n,
        "recorded": len(recorded),
        "requests": requests,
        "lag_p50": statistics.median(lags) if lags else float("nan"),
        "lag_p99": lags[int(0.99 * (len(lags) - 1))] if lags else float("nan"),
        "lag_max": lags[-1] if lags else float("nan"),
    }


def _print(label: str, f: dict[str, float]) -> None:
    print(
        f"{label:44} runs={f['runs']:.0f} recorded={f['recorded']:.0f}  "
        f"lag p50 {f['lag_p50']:.2f}s p99 {f['lag_p99']:.2f}s max {f['lag_max']:.2f}s  "
        f"Jobs API requests {f['requests']:.0f}",
        flush=True,
    )


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    process = None
    redis_url = "redis://127.0.0.1:6379/13"
    if not redis_reachable(redis_url, timeout=0.5):
        redis_url, process = start_private_redis(tmp / "redis")
    try:
        print(f"{n} runs ending within {END_WINDOW:.0f} s; the real worker and API")
        _print(
            f"hints (+ poll every {HINTED_POLL_INTERVAL:.0f} s)",
            measure(n, redis_url, tmp, hints=True),
        )
        _print(
            f"polling alone (every {POLL_INTERVAL:.0f} s)",
            measure(n, redis_url, tmp, hints=False),
        )
    finally:
        if process is not None:
            process.terminate()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 500)

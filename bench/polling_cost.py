"""Polling cost: N concurrently active runs (1,000 and 2,000) watched to their end.

Jobs API: `bench/jobs_simulator.py` (a run-state simulator: timers, no processes - the
local backend runs a process per task, which does not fit 2,000 runs on this machine).
Lockgate side: the real poll sweep (`service.runs.watching.poll_active_runs`) on a
SQLite store, its client metered by the real Redis token bucket (the default reads budget),
one sweep every POLL_INTERVAL seconds. All runs end within END_WINDOW seconds.

Compared in the same run with the usual alternative: one runs/get per run every
30 s (spread evenly), against its own simulator holding the same runs.

Prints, per N: Jobs API requests per second (mean over the run, and the busiest 60 s
window), and the lag between a run ending and it being recorded (p50, p99, max).
Goal: <= 10 requests/s for 2,000 runs; lag <= poll interval + 1 s.

    .venv/bin/python -m bench.polling_cost [N ...]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis

from bench.jobs_simulator import (
    JobsSimulator,
    SimulatedRun,
    requests_in_busiest_window,
    seed_running_runs,
    serve_simulator,
)
from service.databricks import DatabricksClient, PatAuth, RedisTokenBucket
from service.databricks.budget import RequestClass
from service.databricks.profiles import budget_size, workspace_profile
from service.embedded.redis_server import redis_reachable, start_private_redis
from service.runs.watching import poll_active_runs
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import Run

DEFAULTS = Settings()
# Polling only reads: the default workspace's reads bucket, as the workers size it.
READS_BUDGET = budget_size(DEFAULTS, workspace_profile(DEFAULTS), RequestClass.READS)
POLL_INTERVAL = 10.0
END_WINDOW = 60.0
NAIVE_INTERVAL = 30.0


def _runs(n: int, t0: float) -> list[SimulatedRun]:
    rng = random.Random(n)
    return [
        SimulatedRun(
            run_id=1000 + i,
            start_ms=int((t0 - rng.uniform(0, 120)) * 1000),
            end_ms=int((t0 + 5 + rng.uniform(0, END_WINDOW)) * 1000),
        )
        for i in range(n)
    ]


def _store(directory: Path, runs: list[SimulatedRun]) -> tuple[str, dict[int, str]]:
    url = f"sqlite:///{directory / 'bench.db'}"
    upgrade(url)
    return url, seed_running_runs(make_session_factory(make_engine(url)), runs)


def _lags(ended_at: dict[int, float], runs: list[SimulatedRun]) -> list[float]:
    ends = {r.run_id: r.end_ms / 1000 for r in runs}
    return sorted(ended_at[i] - ends[i] for i in ended_at)


def measure_lockgate(n: int, redis_url: str, prefix: str) -> dict[str, float]:
    simulator = JobsSimulator()
    t0 = time.time()
    runs = _runs(n, t0)
    for run in runs:
        simulator.add(run)
    with tempfile.TemporaryDirectory() as tmp, serve_simulator(simulator) as url:
        db_url, ids = _store(Path(tmp), runs)
        by_run_id = {v: k for k, v in ids.items()}
        sessions = make_session_factory(make_engine(db_url))
        settings = Settings(database_url=db_url, redis_url=redis_url, data_dir=Path(tmp))
        bucket = RedisTokenBucket(
            redis.Redis.from_url(redis_url),
            f"{prefix}:budget:{n}",
            rate=READS_BUDGET.rate,
            burst=READS_BUDGET.burst,
        )
        client = DatabricksClient(url, PatAuth("bench"), budget=bucket)
        ended: set[str] = set()
        started = time.monotonic()
        while len(ended) < n and time.monotonic() - started < END_WINDOW + 60:
            sweep_started = time.monotonic()
            report = poll_active_runs(sessions, client, max_pages=200, settings=settings)
            ended.update(report.ended_run_ids)
            time.sleep(max(0.0, POLL_INTERVAL - (time.monotonic() - sweep_started)))
        duration = time.monotonic() - started
        client.close()
        # When Lockgate recorded each ending: the run row's update in that transaction.
        with sessions() as session:
            ended_at = {
                by_run_id[run.id]: run.updated_at.timestamp()
                for run in session.query(Run).filter(Run.id.in_(ended))
            }
    lags = _lags(ended_at, runs)
    return _figures(simulator, duration, lags, recorded=len(ended_at), n=n)


def measure_naive(n: int) -> dict[str, float]:
    """One runs/get per active run every NAIVE_INTERVAL seconds, spread evenly."""
    simulator = JobsSimulator()
    t0 = time.time()
    runs = _runs(n, t0)
    for run in runs:
        simulator.add(run)
    ended_at: dict[int, float] = {}
    lock = threading.Lock()
    with serve_simulator(simulator) as url, ThreadPoolExecutor(16) as pool:
        client = DatabricksClient(url, PatAuth("bench"))
        started = time.monotonic()

        def check(run_id: int) -> None:
            if client.get_run(run_id).is_terminal:
                with lock:
                    ended_at.setdefault(run_id, time.time())

        while len(ended_at) < n and time.monotonic() - started < END_WINDOW + 60:
            round_started = time.monotonic()
            active = [r.run_id for r in runs if r.run_id not in ended_at]
            step = NAIVE_INTERVAL / max(len(active), 1)
            futures = []
            for i, run_id in enumerate(active):
                delay = round_started + i * step - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(check, run_id))
            for future in futures:
                future.result()
            time.sleep(max(0.0, NAIVE_INTERVAL - (time.monotonic() - round_started)))
        duration = time.monotonic() - started
        client.close()
    return _figures(simulator, duration, _lags(ended_at, runs), recorded=len(ended_at), n=n)


def _figures(
    simulator: JobsSimulator, duration: float, lags: list[float], *, recorded: int, n: int
) -> dict[str, float]:
    total = simulator.count()
    return {
        "runs": n,
        "recorded": recorded,
        "requests": total,
        "seconds": duration,
        "req_per_s": total / duration,
        "busiest_60s_per_s": requests_in_busiest_window(simulator.times()) / 60.0,
        "lag_p50": statistics.median(lags) if lags else float("nan"),
        "lag_p99": lags[int(0.99 * (len(lags) - 1))] if lags else float("nan"),
        "lag_max": lags[-1] if lags else float("nan"),
    }


def _print(label: str, f: dict[str, float]) -> None:
    print(
        f"{label:34} runs={f['runs']:.0f} recorded={f['recorded']:.0f} "
        f"requests={f['requests']:.0f} in {f['seconds']:.0f}s  "
        f"mean {f['req_per_s']:.1f} req/s  busiest minute {f['busiest_60s_per_s']:.1f} req/s  "
        f"lag p50 {f['lag_p50']:.1f}s p99 {f['lag_p99']:.1f}s max {f['lag_max']:.1f}s",
        flush=True,
    )


def main(sizes: list[int]) -> None:
    process = None
    redis_url = "redis://127.0.0.1:6379/13"
    if not redis_reachable(redis_url, timeout=0.5):
        redis_url, process = start_private_redis(Path(tempfile.mkdtemp()) / "redis")
    prefix = f"bench-{int(time.time())}"
    print(
        f"poll interval {POLL_INTERVAL:.0f}s, all runs end within {END_WINDOW:.0f}s; "
        f"reads budget {READS_BUDGET.rate:g} req/s "
        f"burst {READS_BUDGET.burst}; "
        f"alternative: runs/get per run every {NAIVE_INTERVAL:.0f}s"
    )
    try:
        for n in sizes:
            results: dict[str, dict[str, float]] = {}
            naive = threading.Thread(
                target=lambda n=n, results=results: results.setdefault("naive", measure_naive(n))
            )
            naive.start()  # the same run: both pollers work at the same time
            results["lockgate"] = measure_lockgate(n, redis_url, prefix)
            naive.join()
            _print(f"Lockgate list sweep, N={n}", results["lockgate"])
            _print(f"runs/get per run /30s, N={n}", results["naive"])
    finally:
        if process is not None:
            process.terminate()


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 2000])

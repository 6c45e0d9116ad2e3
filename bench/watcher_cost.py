"""Workspace watcher cost: what watching a busy workspace spends, and how soon an
ending becomes an event.

Jobs API: `bench/jobs_simulator.py` (run states from timers). The workspace starts N runs
a minute, each lasting 20 s to 10 min, plus a few that run for hours (started before the
watch began); Lockgate side: the real watcher (`service.workspace.watcher`) on a SQLite
store, one pass every INTERVAL seconds, for DURATION seconds.

Prints: Jobs API requests per second (mean and busiest minute), requests per recorded
ending, and the lag between a run ending and its ledger event (p50, p99, max).

    .venv/bin/python -m bench.watcher_cost [RUNS_PER_MINUTE ...]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.jobs_simulator import (
    JobsSimulator,
    SimulatedRun,
    requests_in_busiest_window,
    serve_simulator,
)
from service.databricks import DatabricksClient, PatAuth
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.workspace.job_directory import JobDirectory
from service.workspace.watcher import WatchLimits, watch_workspace

INTERVAL = 10.0
DURATION = 180.0
LIMITS = WatchLimits(overlap_ms=120_000, max_pages=400)


def measure(runs_per_minute: int) -> None:
    simulator = JobsSimulator()
    rng = random.Random(runs_per_minute)
    begin = int(time.time() * 1000)
    for n in range(20):  # long runners: started long before the checkpoint
        simulator.add(SimulatedRun(n + 1, begin - 7_200_000, begin + rng.randint(0, 170_000)))
    # Runs started in the last 10 minutes (some still going), then N a minute from now on.
    next_id = 100
    for offset_ms in range(-600_000, int(DURATION * 1000), int(60_000 / runs_per_minute)):
        start = begin + offset_ms
        simulator.add(SimulatedRun(next_id, start, start + rng.randint(20_000, 600_000)))
        next_id += 1
    with tempfile.TemporaryDirectory() as tmp, serve_simulator(simulator) as url:
        store = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(store)
        engine = make_engine(store)
        sessions = make_session_factory(engine)
        recorded_at: dict[int, float] = {}
        with DatabricksClient(url, PatAuth("x")) as client:
            jobs = JobDirectory(client)
            watch_workspace(sessions, client, jobs, workspace="bench", limits=LIMITS)  # baseline
            first = time.monotonic()
            started = time.time()
            while time.monotonic() - first < DURATION:
                time.sleep(INTERVAL - (time.monotonic() - first) % INTERVAL)
                report = watch_workspace(sessions, client, jobs, workspace="bench", limits=LIMITS)
                for ended in report.recorded:
                    recorded_at[ended.run_id] = time.time()
            times = simulator.times()
            # Two more passes, not counted in the cost: every run that had ended by the
            # end of the measurement must be recorded by then.
            stopped_ms = time.time() * 1000
            for _ in range(2):
                report = watch_workspace(sessions, client, jobs, workspace="bench", limits=LIMITS)
                for ended in report.recorded:
                    recorded_at[ended.run_id] = time.time()
        engine.dispose()
    since = started * 1000
    ends = {r.run_id: r.end_ms for r in simulator.runs.values() if since <= r.end_ms < stopped_ms}
    lags = sorted(recorded_at[i] - ends[i] / 1000 for i in ends if i in recorded_at)
    missing = [i for i in ends if i not in recorded_at]
    total = len(times)
    print(
        f"{runs_per_minute} runs/min over {DURATION:.0f} s, pass every {INTERVAL:.0f} s: "
        f"{total / DURATION:.2f} req/s (busiest minute {requests_in_busiest_window(times)} req), "
        f"{len(recorded_at)} endings recorded ({total / max(1, len(recorded_at)):.2f} req each), "
        f"lag p50 {statistics.median(lags):.1f} s p99 {lags[int(len(lags) * 0.99) - 1]:.1f} s "
        f"max {lags[-1]:.1f} s; missed {len(missing)}"
    )


if __name__ == "__main__":
    for rate in [int(a) for a in sys.argv[1:]] or [100, 500]:
        measure(rate)

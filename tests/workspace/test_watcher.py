"""The workspace watcher against a Jobs API over HTTP: the run-state simulator for
volume and restarts, the local backend for repairs and job names."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.jobs_simulator import JobsSimulator, SimulatedRun, serve_simulator
from service.databricks import DatabricksClient, PatAuth
from service.store.db import make_engine, make_session_factory
from service.store.models import TriggerEvent
from service.workspace.job_directory import JobDirectory
from service.workspace.watcher import WatchLimits, watch_workspace
from tests.databricks.local.conftest import TOKEN, start_backend
from tests.workspace._watch_loop import handled, probe_metadata, watch_pass

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sessions(store_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(store_url)
    probe_metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


def observed_keys(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(TriggerEvent.dedupe_key).where(TriggerEvent.source == "databricks")
            )
        )


def handled_keys(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return [row[0] for row in session.execute(select(handled.c.dedupe_key))]


def now_ms() -> int:
    return int(time.time() * 1000)


def test_restarted_mid_stream_misses_no_ending_and_repeats_none(
    sessions: sessionmaker[Session], store_url: str
) -> None:
    simulator = JobsSimulator()
    start = now_ms()
    # Runs that began before the checkpoint can reach (an hour ago, and just before the
    # 5 s overlap), still going: only the active listing can keep track of them.
    for n in range(5):
        simulator.add(SimulatedRun(900 + n, start - 3_600_000, start + 1_500 + 900 * n))
        simulator.add(SimulatedRun(950 + n, start - 9_000, start + 7_000 + 400 * n))
    rng = random.Random(10)
    stop = threading.Event()

    def feed() -> None:
        run_id = 1_000
        while not stop.is_set():
            begun = now_ms()
            simulator.add(SimulatedRun(run_id, begun, begun + rng.randint(50, 2_500)))
            run_id += 1
            time.sleep(0.01)

    with serve_simulator(simulator) as url:
        watch_pass(store_url, url, passes=1, pause=0)  # the baseline: records nothing
        assert observed_keys(sessions) == []
        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        kills = 0
        deadline = time.monotonic() + 9
        while time.monotonic() < deadline:
            process = subprocess.Popen(
                [sys.executable, "-m", "tests.workspace._watch_loop", store_url, url],
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            time.sleep(rng.uniform(0.6, 1.6))
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills += 1
        stop.set()
        feeder.join()
        last_end = max(run.end_ms for run in simulator.runs.values())
        time.sleep(max(0.0, (last_end - now_ms()) / 1000) + 0.2)
        watch_pass(store_url, url, passes=2, pause=0)

    expected = {f"{run_id}:0" for run_id in simulator.runs}
    assert kills >= 5
    assert len(expected) > 300
    keys = observed_keys(sessions)
    assert set(keys) == expected  # nothing missed
    assert len(keys) == len(expected)
    counts = Counter(handled_keys(sessions))
    assert set(counts) == expected  # each ending handed on ...
    assert max(counts.values()) == 1  # ... once, across every kill


def test_a_repair_is_a_new_ending_and_jobs_are_named(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    notebook = tmp_path / "workspace" / "fails.py"
    notebook.parent.mkdir(parents=True)
    notebook.write_text("# Databricks notebook source\nraise RuntimeError('no input yet')\n")
    with (
        start_backend(tmp_path) as backend,
        httpx.Client(
            base_url=backend.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as api,
        DatabricksClient(backend.url, PatAuth(TOKEN)) as client,
    ):
        jobs = JobDirectory(client)
        limits = WatchLimits(overlap_ms=60_000, max_pages=10)

        def watch() -> list[str]:
            report = watch_workspace(sessions, client, jobs, workspace="default", limits=limits)
            return [ended.dedupe_key for ended in report.recorded]

        assert watch() == []  # baseline
        job_id = api.post(
            "/api/2.2/jobs/create",
            json={
                "name": "nightly-ingest",
                "tags": {"team": "finance"},
                "tasks": [{"task_key": "load", "notebook_task": {"notebook_path": "/fails"}}],
            },
        ).json()["job_id"]
        run_id = api.post("/api/2.2/jobs/run-now", json={"job_id": job_id}).json()["run_id"]
        wait_terminal(api, run_id)
        assert watch() == [f"{run_id}:0"]
        assert watch() == []  # listed again: not recorded again
        repair_id = api.post(
            "/api/2.2/jobs/runs/repair", json={"run_id": run_id, "rerun_all_failed_tasks": True}
        ).json()["repair_id"]
        time.sleep(0.3)
        wait_terminal(api, run_id)
        assert watch() == [f"{run_id}:{repair_id}"]
        with sessions() as session:
            first = session.scalars(
                select(TriggerEvent).where(TriggerEvent.dedupe_key == f"{run_id}:0")
            ).one()
        assert first.workflow_id is None and first.status == "observed"
        assert first.payload["job_name"] == "nightly-ingest"
        assert first.payload["job_tags"] == {"team": "finance"}
        assert first.payload["result_state"] == "FAILED"
        assert first.payload["lockgate_run_id"] is None


def wait_terminal(api: httpx.Client, run_id: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = api.get("/api/2.2/jobs/runs/get", params={"run_id": run_id}).json()
        if run["state"]["life_cycle_state"] in {"TERMINATED", "INTERNAL_ERROR", "SKIPPED"}:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end")

"""The poll sweep against a Jobs API run-state simulator over HTTP: what it reads, what
it records, and what it spends."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bench.jobs_simulator import JobsSimulator, SimulatedRun, seed_running_runs, serve_simulator
from service.databricks import DatabricksClient, PatAuth
from service.runs.watching import PollReport, poll_active_runs
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.models import Run, RunStatus

LIST = "/api/2.2/jobs/runs/list"
GET = "/api/2.2/jobs/runs/get"


@pytest.fixture
def sessions(store_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(store_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def simulator() -> JobsSimulator:
    return JobsSimulator()


@dataclass
class Sweep:
    """One poll sweep of this test's store against the simulator."""

    sessions: sessionmaker[Session]
    client: DatabricksClient
    settings: Settings

    def __call__(self, max_pages: int = 100, **overrides: float) -> PollReport:
        settings = self.settings.model_copy(update=overrides)
        return poll_active_runs(self.sessions, self.client, max_pages=max_pages, settings=settings)

    def seed(self, runs: list[SimulatedRun]) -> None:
        seed_running_runs(self.sessions, runs)

    def statuses(self) -> dict[int, str]:
        with self.sessions() as session:
            return {int(r.databricks_run_id or 0): r.status for r in session.query(Run)}


@pytest.fixture
def sweep(
    tmp_path: Path, store_url: str, sessions: sessionmaker[Session], simulator: JobsSimulator
) -> Iterator[Sweep]:
    with serve_simulator(simulator) as url:
        client = DatabricksClient(url, PatAuth("test"))
        yield Sweep(sessions, client, Settings(database_url=store_url, data_dir=tmp_path))
        client.close()


def _now_ms() -> int:
    return int(time.time() * 1000)


def test_recent_runs_come_from_one_listing_that_shows_endings_with_their_result(
    sweep: Sweep, simulator: JobsSimulator
) -> None:
    now = _now_ms()
    runs = [
        SimulatedRun(run_id=100 + i, start_ms=now - 60_000 + i, end_ms=now - 1000 + (i % 2) * 10**7)
        for i in range(60)
    ]  # even ones have ended, odd ones run on
    for run in runs:
        simulator.add(run)
    # Not Lockgate's, but started within the window: the listing pays for them too.
    simulator.add(SimulatedRun(run_id=99, start_ms=now - 30_000, end_ms=now - 20_000))
    sweep.seed(runs)

    report = sweep()

    statuses = sweep.statuses()
    assert {statuses[r.run_id] for r in runs[0::2]} == {RunStatus.SUCCEEDED}
    assert {statuses[r.run_id] for r in runs[1::2]} == {RunStatus.RUNNING}
    assert len(report.ended_run_ids) == 30
    assert simulator.count(LIST) == math.ceil(61 / 25) == report.api_calls
    assert simulator.count(GET) == 0


def test_runs_older_than_the_window_are_read_from_the_active_then_completed_listing(
    sweep: Sweep, simulator: JobsSimulator
) -> None:
    now = _now_ms()
    hours = 3_600_000
    old_running = SimulatedRun(run_id=1, start_ms=now - 5 * hours, end_ms=now + hours)
    old_ended = SimulatedRun(run_id=2, start_ms=now - 4 * hours, end_ms=now - 1000)
    recent = SimulatedRun(run_id=3, start_ms=now - 10_000, end_ms=now + hours)
    # Many runs between the old ones and the window, all ended: the window's listing
    # does not reach back to them, and the active listing skips them.
    others = [
        SimulatedRun(run_id=1000 + i, start_ms=now - 3 * hours + i, end_ms=now - 2 * hours)
        for i in range(200)
    ]
    for run in [old_running, old_ended, recent, *others]:
        simulator.add(run)
    sweep.seed([old_running, old_ended, recent])

    report = sweep(poll_window_seconds=3600)

    assert sweep.statuses() == {
        1: RunStatus.RUNNING,
        2: RunStatus.SUCCEEDED,
        3: RunStatus.RUNNING,
    }
    # window (1 page) + active before the window (1) + completed around run 2's start (1)
    assert report.api_calls == simulator.count(LIST) == 3
    assert simulator.count(GET) == 0


def test_a_run_no_listing_shows_is_read_with_runs_get(
    sweep: Sweep, simulator: JobsSimulator
) -> None:
    now = _now_ms()
    # Lockgate's clock says it started now; Databricks says ten minutes earlier - beyond
    # the listing's slack, so only runs/get finds it.
    skewed = SimulatedRun(run_id=7, start_ms=now - 600_000, end_ms=now - 1000)
    simulator.add(skewed)
    sweep.seed([SimulatedRun(run_id=7, start_ms=now, end_ms=now)])

    sweep()

    assert sweep.statuses() == {7: RunStatus.SUCCEEDED}
    assert simulator.count(GET) == 1


def test_a_window_cut_short_hands_the_runs_it_did_not_reach_to_the_active_listing(
    sweep: Sweep, simulator: JobsSimulator
) -> None:
    now = _now_ms()
    watched = [
        SimulatedRun(run_id=1, start_ms=now - 50_000, end_ms=now - 1000),  # oldest, ended
        SimulatedRun(run_id=2, start_ms=now - 40_000, end_ms=now + 10**7),
    ]
    busy = [
        SimulatedRun(run_id=100 + i, start_ms=now - 30_000 + i, end_ms=now - 20_000)
        for i in range(100)
    ]
    for run in [*watched, *busy]:
        simulator.add(run)
    sweep.seed(watched)

    # Two pages reach 50 of the 100 busy runs; the watched ones lie beyond.
    sweep(max_pages=2)

    assert sweep.statuses() == {1: RunStatus.SUCCEEDED, 2: RunStatus.RUNNING}
    # Each listing stays within max_pages; at most the one ended run needs runs/get.
    assert simulator.count(LIST) <= 3 * 2 and simulator.count(GET) <= 1

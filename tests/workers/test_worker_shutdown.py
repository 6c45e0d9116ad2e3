"""SIGTERM to a real worker subprocess in the middle of a task: a submission or a poll
sweep held up by a slow Databricks (a real proxy in front of the local backend).

Within the grace period the task finishes and the worker exits 0. Past it, the worker
hands the task's message back to the queue and exits 0, and a second worker runs it:
no run lost, none doubled (one Databricks run, one attempt). The sweeper could also
recover a run stuck in ``submitting``; it is kept out of these tests (a stuck run is
re-sent only after ten minutes) so that only the hand-back can bring the run home.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import redis

from service.runs.queue import SUBMIT_RUN
from tests.e2e.conftest import Lockgate, Worker, ended, open_lockgate
from tests.e2e.test_webhook_to_run import _backend_runs, _notebook
from tests.workers.slow_databricks import RUN_NOW, RUNS_LIST, SlowDatabricks, slow_databricks

STUCK_NEVER = 600.0  # seconds: the sweeper re-sends nothing during a test


@contextmanager
def _lockgate(
    tmp_path: Path, redis_url: str, redis_prefix: str, **overrides: Any
) -> Iterator[tuple[Lockgate, SlowDatabricks]]:
    proxies: list[SlowDatabricks] = []

    @contextmanager
    def through_proxy(upstream: str) -> Iterator[str]:
        with slow_databricks(upstream) as proxy:
            proxies.append(proxy)
            yield proxy.url

    wrapper: Callable[[str], AbstractContextManager[str]] = through_proxy
    with open_lockgate(
        tmp_path,
        redis_url,
        redis_prefix,
        databricks_url=wrapper,
        stuck_after_seconds=STUCK_NEVER,
        **overrides,
    ) as lockgate:
        yield lockgate, proxies[0]


def _workflow(lockgate: Lockgate, source: str = "dbutils.notebook.exit('ok')") -> None:
    _notebook(lockgate, "/Tests/graceful", source)
    task = {"task_key": "t", "type": "notebook", "notebook_path": "/Tests/graceful"}
    response = lockgate.api.post(
        "/api/v1/workflows", json={"name": "graceful", "tasks": [{**task, "max_retries": 0}]}
    )
    assert response.status_code == 201, response.text


def _trigger(lockgate: Lockgate) -> str:
    response = lockgate.api.post("/api/v1/workflows/graceful/runs", json={})
    assert response.status_code == 202, response.text
    return str(response.json()["event_id"])


def _run_of(lockgate: Lockgate, event_id: str) -> dict[str, Any]:
    event = lockgate.api.get(f"/api/v1/events/{event_id}").json()
    if not event.get("run_id"):
        return {}
    run: dict[str, Any] = lockgate.api.get(f"/api/v1/runs/{event['run_id']}").json()
    return run


def _wait(
    lockgate: Lockgate, what: str, predicate: Callable[[], bool], timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, (
            f"waited {timeout}s for {what}\n{lockgate.worker_logs()}"
        )
        time.sleep(0.05)


def _terminate(worker: Worker, timeout: float) -> tuple[int, float]:
    """SIGTERM as an orchestrator sends it (to the worker's process group); returns the
    exit code and the seconds the worker took to exit."""
    started = time.monotonic()
    os.killpg(worker.process.pid, signal.SIGTERM)
    code = worker.process.wait(timeout=timeout)
    return code, time.monotonic() - started


def _queued(lockgate: Lockgate) -> list[dict[str, Any]]:
    prefix = lockgate.settings.queue_prefix
    client = redis.Redis.from_url(lockgate.settings.redis_url or "")
    try:
        return [json.loads(m) for m in client.lrange(f"{prefix}:{prefix}.tasks", 0, -1)]
    finally:
        client.close()


def _unacked(lockgate: Lockgate) -> int:
    client = redis.Redis.from_url(lockgate.settings.redis_url or "")
    try:
        return int(client.hlen(f"{lockgate.settings.queue_prefix}:unacked"))
    finally:
        client.close()


def test_sigterm_mid_submission_lets_it_finish_and_exits_0(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    grace = 15.0
    with _lockgate(tmp_path, redis_url, redis_prefix, shutdown_grace_seconds=grace) as (
        lockgate,
        proxy,
    ):
        _workflow(lockgate)
        proxy.holds[RUN_NOW] = 2.0
        first = lockgate.start_worker()
        event_id = _trigger(lockgate)
        _wait(lockgate, "the worker inside run-now", lambda: proxy.busy(RUN_NOW) == 1)

        code, took = _terminate(first, timeout=grace + 10)

        assert code == 0, lockgate.worker_logs()
        assert took < grace, took  # it waited for run-now (up to 2 s), not for the grace
        # The exiting worker recorded the Databricks run it had asked for, and its
        # message was acknowledged: nothing is left for another worker to redo.
        run = _run_of(lockgate, event_id)
        assert run["status"] in ("pending", "running"), (run, lockgate.worker_logs())
        assert [r["run_id"] for r in _backend_runs(lockgate, run["databricks_job_id"])] == [
            run["databricks_run_id"]
        ]
        assert "handed back" not in lockgate.worker_logs()
        assert _unacked(lockgate) == 0
        assert not [m for m in _queued(lockgate) if m["headers"]["task"] == SUBMIT_RUN]


def test_sigterm_past_the_grace_hands_the_submission_back_to_another_worker(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    grace = 1.5
    with _lockgate(tmp_path, redis_url, redis_prefix, shutdown_grace_seconds=grace) as (
        lockgate,
        proxy,
    ):
        _workflow(lockgate)
        proxy.holds[RUN_NOW] = 5.0  # longer than the grace period
        first = lockgate.start_worker()
        event_id = _trigger(lockgate)
        _wait(lockgate, "the worker inside run-now", lambda: proxy.busy(RUN_NOW) == 1)
        run_id = _run_of(lockgate, event_id)["id"]

        code, took = _terminate(first, timeout=grace + 10)

        assert code == 0, lockgate.worker_logs()
        assert grace <= took < grace + 4, took
        assert "handed back" in lockgate.worker_logs()
        # The submission is back in the queue, not parked in Redis' unacked set (where
        # it would wait out the hour-long visibility timeout).
        submits = [
            m
            for m in _queued(lockgate)
            if m["headers"]["task"] == SUBMIT_RUN and run_id in m["headers"]["argsrepr"]
        ]
        assert len(submits) == 1, _queued(lockgate)
        assert _unacked(lockgate) == 0
        assert _run_of(lockgate, event_id)["status"] == "submitting"

        proxy.holds.clear()  # the held run-now still reaches Databricks when its hold ends
        lockgate.start_worker()
        run = lockgate.wait_for_run(event_id, ended, timeout=60)
        _wait(
            lockgate, "the abandoned run-now to arrive", lambda: len(proxy.forwards(RUN_NOW)) == 2
        )

        assert run["status"] == "succeeded", run
        # Both run-now calls carried the run's idempotency token: one Databricks run.
        assert len(_backend_runs(lockgate, run["databricks_job_id"])) == 1
        assert [a["attempt"] for a in run["attempts"]] == [1]


def test_sigterm_mid_sweep_records_the_ending_before_exiting(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    grace = 15.0
    with _lockgate(tmp_path, redis_url, redis_prefix, shutdown_grace_seconds=grace) as (
        lockgate,
        proxy,
    ):
        _workflow(lockgate, "import time\n---\ntime.sleep(1.5)")
        worker = lockgate.start_worker()
        event_id = _trigger(lockgate)
        _wait(
            lockgate,
            "the run running",
            lambda: _run_of(lockgate, event_id).get("status") == "running",
        )
        databricks_run_id = _run_of(lockgate, event_id)["databricks_run_id"]
        proxy.holds[RUNS_LIST] = 2.0

        def backend_end_ms() -> int:
            info = lockgate.backend.get(
                "/api/2.2/jobs/runs/get", params={"run_id": databricks_run_id}
            ).json()
            return int(info.get("end_time") or 0)

        _wait(lockgate, "Databricks to end the run", lambda: backend_end_ms() > 0)
        ended_at = backend_end_ms() / 1000
        # A sweep is held inside runs/list, and no listing made after the end has been
        # answered yet: the held one is the first to see the ending.
        _wait(
            lockgate,
            "a sweep inside runs/list",
            lambda: (
                proxy.busy(RUNS_LIST) >= 1
                and all(at < ended_at for at in proxy.forwards(RUNS_LIST))
            ),
        )
        assert _run_of(lockgate, event_id)["status"] == "running"

        code, took = _terminate(worker, timeout=grace + 10)

        assert code == 0, lockgate.worker_logs()
        assert took < grace, took
        # No worker runs now: the ending was recorded by the sweep the signal interrupted.
        run = _run_of(lockgate, event_id)
        assert run["status"] == "succeeded", (run, lockgate.worker_logs())
        assert "handed back" not in lockgate.worker_logs()

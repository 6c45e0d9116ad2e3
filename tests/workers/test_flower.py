"""Flower (the `[ops]` extra) against a real worker: `celery -A workers.celery_app flower`
finds the app (built from the LOCKGATE_* environment) and its API lists the worker and
the tasks it runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from service.runs.queue import POLL_RUNS, SUBMIT_RUN
from service.store.migrate import upgrade
from tests.e2e.conftest import REPO_ROOT
from tests.factories import make_settings, settings_env
from tests.servers import free_port


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", *argv],
            env=env,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def _worker_and_flower(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    settings = make_settings(tmp_path, redis_url=redis_url, queue_prefix=redis_prefix)
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.resolved_database_url)
    env = settings_env(settings)
    port = free_port()
    worker = _spawn(["service.cli", "worker", "--concurrency", "1"], env, tmp_path / "worker.log")
    flower = _spawn(
        [
            "celery",
            "-A",
            "workers.celery_app",
            "flower",
            "--address=127.0.0.1",
            f"--port={port}",
            "--basic-auth=ops:flower-test-password",
        ],
        env,
        tmp_path / "flower.log",
    )
    try:
        yield worker, f"http://127.0.0.1:{port}"
    finally:
        _stop(flower)
        _stop(worker)


def test_flower_lists_the_worker_and_its_tasks(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    with _worker_and_flower(tmp_path, redis_url, redis_prefix) as (worker, url):
        auth = ("ops", "flower-test-password")
        deadline = time.monotonic() + 45
        workers: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{url}/api/workers", params={"refresh": 1}, auth=auth)
                if response.status_code == 200:
                    workers = response.json()
                    if any(w.get("registered") for w in workers.values()):
                        break
            except httpx.HTTPError:
                pass  # Flower still starting
            time.sleep(0.5)
        logs = (tmp_path / "flower.log").read_text(errors="replace")[-3000:]
        assert list(workers) == [f"lockgate-{worker.pid}@{socket.gethostname()}"], (workers, logs)
        registered = next(iter(workers.values()))["registered"]
        assert {SUBMIT_RUN, POLL_RUNS} <= set(registered)
        # Without the password the API is closed.
        assert httpx.get(f"{url}/api/workers").status_code == 401

"""End to end: the API and the local Databricks backend under uvicorn in this process,
real Celery workers as subprocesses (so a test can SIGKILL one), a real Redis, and an
SMTP server and HTTP receiver started by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.app import create_app
from service.databricks.local import create_local_backend
from service.embedded.up import local_backend_config
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from tests.factories import create_api_key, make_settings, settings_env
from tests.servers import SmtpInbox, serve_app, smtp_server

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """SIGKILL the whole worker (its process group): no cleanup, no acks."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Lockgate:
    settings: Settings
    api: httpx.Client
    backend: httpx.Client  # the local Databricks backend, authenticated
    sessions: sessionmaker[Session]
    smtp: SmtpInbox
    tmp_path: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self) -> Worker:
        log_path = self.tmp_path / f"worker-{len(self.workers)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "worker", "--beat", "--concurrency", "4"],
                env=settings_env(self.settings),
                cwd=REPO_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log_path)
        self.workers.append(worker)
        return worker

    def worker_logs(self) -> str:
        return "\n".join(
            f"--- {w.log_path.name}\n" + w.log_path.read_text(errors="replace")[-6000:]
            for w in self.workers
        )

    def wait_for_run(
        self, event_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 90.0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            event = self.api.get(f"/api/v1/events/{event_id}").json()
            if event.get("run_id"):
                run = self.api.get(f"/api/v1/runs/{event['run_id']}").json()
                if done(run):
                    return run
            time.sleep(0.2)
        raise AssertionError(f"run did not get there in {timeout}s: {run}\n{self.worker_logs()}")


def ended(run: dict[str, Any]) -> bool:
    return run["status"] in ("succeeded", "failed", "canceled", "skipped", "error")


@pytest.fixture
def lockgate(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[Lockgate]:
    with open_lockgate(tmp_path, redis_url, redis_prefix) as harness:
        yield harness


@contextmanager
def open_lockgate(
    tmp_path: Path,
    redis_url: str,
    redis_prefix: str,
    *,
    databricks_url: Callable[[str], AbstractContextManager[str]] | None = None,
    **overrides: Any,
) -> Iterator[Lockgate]:
    """The ``lockgate`` fixture's harness with settings overrides, and optionally a wrapper
    around the local backend's URL (a fault-injecting proxy) that the API and workers use
    in its place. The harness's ``backend`` client still talks to the backend directly."""
    with smtp_server() as smtp:
        settings = make_settings(
            tmp_path,
            redis_url=redis_url,
            queue_prefix=redis_prefix,
            smtp_host=smtp.host,
            smtp_port=smtp.port,
            **overrides,
        )
        settings.data_dir.mkdir(parents=True)
        upgrade(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        sessions = make_session_factory(engine)
        key = create_api_key(sessions)
        backend_app = create_local_backend(local_backend_config(settings))
        with ExitStack() as stack:
            backend_url = stack.enter_context(serve_app(backend_app))
            seen_url = stack.enter_context(databricks_url(backend_url)) if databricks_url else None
            settings = settings.model_copy(update={"databricks_host": seen_url or backend_url})
            api_url = stack.enter_context(serve_app(create_app(settings)))
            api = stack.enter_context(
                httpx.Client(
                    base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
                )
            )
            backend = stack.enter_context(
                httpx.Client(
                    base_url=backend_url,
                    headers={"Authorization": "Bearer local-dev-token"},
                    timeout=30,
                )
            )
            harness = Lockgate(settings, api, backend, sessions, smtp, tmp_path)
            try:
                yield harness
            finally:
                for worker in harness.workers:
                    worker.stop()
        engine.dispose()

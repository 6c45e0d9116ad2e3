"""Fixtures for trigger sources: a store, a real Celery publisher on Redis, a clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.runs.queue import CeleryTaskSender, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.models import TriggerEvent
from service.store.repositories import workflows as workflows_repo
from tests.factories import make_settings
from tests.queued_tasks import queued_work


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Triggers:
    settings: Settings
    sessions: sessionmaker[Session]
    sender: CeleryTaskSender
    broker: redis.Redis

    def add_workflow(self, name: str, **extra: Any) -> str:
        from tests.factories import simple_workflow

        with self.sessions.begin() as session:
            return workflows_repo.create_workflow(
                session, name=name, source=simple_workflow(name, **extra)
            ).id

    def events(self, source: str | None = None) -> list[TriggerEvent]:
        with self.sessions() as session:
            query = select(TriggerEvent).order_by(TriggerEvent.received_at, TriggerEvent.id)
            if source:
                query = query.where(TriggerEvent.source == source)
            return list(session.scalars(query))

    def accepted(self, source: str | None = None) -> list[TriggerEvent]:
        return [e for e in self.events(source) if e.status != "ignored"]

    def queued_messages(self) -> int:
        """Work queued (read from the real Redis): a dispatch_events message counts once per
        event it carries."""
        return queued_work(self.broker, self.settings.queue_prefix)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC))


@pytest.fixture
def triggers(
    tmp_path: Path, database_url: str, redis_url: str, redis_prefix: str
) -> Iterator[Triggers]:
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        redis_url=redis_url,
        queue_prefix=redis_prefix,
        scheduler_misfire_grace_seconds=30,
    )
    engine = make_engine(database_url)
    celery = make_celery(settings, name="lockgate-test-triggers")
    broker = redis.Redis.from_url(redis_url)
    yield Triggers(settings, make_session_factory(engine), CeleryTaskSender(celery), broker)
    broker.close()
    celery.close()
    engine.dispose()


# Azurite's well-known development account (public, documented by Microsoft).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURITE_VERSION = "3.35.0"
TOOLS_DIR = Path(__file__).resolve().parents[2] / ".tools"


@dataclass(frozen=True)
class Azurite:
    blob_url: str  # http://127.0.0.1:<port>/devstoreaccount1

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.blob_url};"
        )


def _azurite_binary() -> Path:
    binary = TOOLS_DIR / "node_modules" / ".bin" / "azurite-blob"
    if not binary.exists():
        # `make test` installs it; a bare `pytest` on a fresh clone installs it here.
        import subprocess

        subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(TOOLS_DIR),
                f"azurite@{AZURITE_VERSION}",
                "--no-audit",
                "--no-fund",
            ],
            check=True,
            timeout=300,
        )
    return binary


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A real Azurite blob service for the session; the suite fails if it cannot start."""
    import subprocess
    import time

    import httpx

    from tests.servers import free_port

    port = free_port()
    location = tmp_path_factory.mktemp("azurite")
    process = subprocess.Popen(
        [
            str(_azurite_binary()),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(location),
            "--silent",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            pytest.fail(f"Azurite exited at start: {error[-2000:]}")
        try:
            httpx.get(f"{url}?comp=list", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail("Azurite did not answer within 30 s")
            time.sleep(0.1)
    try:
        yield Azurite(blob_url=url)
    finally:
        process.terminate()
        process.wait(timeout=10)

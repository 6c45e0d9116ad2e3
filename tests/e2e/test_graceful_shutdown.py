"""SIGTERM to the long-running processes other than the worker (see tests/workers for it):
the API, the scheduler and the listener as real `lockgate` subprocesses, and the
supervisor of `lockgate up`.

To signal a loop surely in the middle of a round, the test holds the store's write lock
(SQLite: the database; PostgreSQL: the table the loop reads): the loop's next
transaction blocks, and the signal arrives while it waits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from service.embedded.supervisor import Supervisor
from service.runs.queue import CeleryTaskSender, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import TriggerEvent, utcnow
from service.store.models.triggers import FileWatch, Schedule
from service.store.repositories import workflows as workflows_repo
from service.triggers.scheduler import Scheduler
from service.triggers.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from tests.e2e.conftest import REPO_ROOT, Lockgate
from tests.factories import make_settings, settings_env, simple_workflow
from tests.servers import free_port

SECRET = "graceful-hook-secret-0123456789"
NEVER = "0 0 0 1 1 ?"  # Quartz: midnight on 1 January; the test moves fires by hand


@pytest.fixture
def store(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[Settings]:
    settings = make_settings(tmp_path, redis_url=redis_url, queue_prefix=redis_prefix)
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.resolved_database_url)
    yield settings


@contextmanager
def _engine(settings: Settings) -> Iterator[tuple[Engine, sessionmaker[Session]]]:
    engine = make_engine(settings.resolved_database_url)
    try:
        yield engine, make_session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def _writes_held(engine: Engine, table: str) -> Iterator[Connection]:
    """A transaction that blocks the process under test at its next one; committed on
    leaving (SQLite: the engine begins every transaction with BEGIN IMMEDIATE)."""
    with engine.connect() as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        else:
            conn.execute(text("SELECT 1"))
        yield conn


def _start(settings: Settings, command: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "service.cli", command],
            env=settings_env(settings),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _terminate(process: subprocess.Popen[bytes]) -> float:
    os.killpg(process.pid, signal.SIGTERM)
    return time.monotonic()


def _wait(what: str, predicate: Callable[[], bool], log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout}s for {what}\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# -- scheduler ------------------------------------------------------------------------


def _scheduled_store(settings: Settings, sessions: sessionmaker[Session], count: int) -> None:
    with sessions.begin() as session:
        for n in range(count):
            workflows_repo.create_workflow(
                session,
                name=f"s{n:03d}",
                source=simple_workflow(f"s{n:03d}", schedule={"cron": NEVER}),
            )


def _schedules_at(sessions: sessionmaker[Session], due: object) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).where(Schedule.next_fire_at == due)) or 0)


def _schedule_events(sessions: sessionmaker[Session]) -> list[TriggerEvent]:
    with sessions() as session:
        return list(
            session.scalars(
                select(TriggerEvent).where(
                    TriggerEvent.source == "schedule", TriggerEvent.status != "ignored"
                )
            )
        )


def _synced(sessions: sessionmaker[Session], count: int) -> bool:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Schedule)) == count


def test_scheduler_sigterm_mid_round_commits_the_batch_in_hand_and_exits_0(
    store: Settings, tmp_path: Path
) -> None:
    count, batch = 400, 40
    settings = store.model_copy(
        update={
            "scheduler_batch_size": batch,
            "scheduler_tick_seconds": 1.0,
            "scheduler_sync_seconds": 600.0,
            "shutdown_grace_seconds": 10.0,
        }
    )
    log = tmp_path / "scheduler.log"
    with _engine(settings) as (_, sessions):
        _scheduled_store(settings, sessions, count)
        process = _start(settings, "scheduler", log)
        try:
            _wait("the schedules synced", lambda: _synced(sessions, count), log)
            due = utcnow().replace(microsecond=0) - timedelta(seconds=1)
            with sessions.begin() as session:  # every schedule due at once: ten batches
                session.execute(update(Schedule).values(next_fire_at=due))
            _wait("the first batch fired", lambda: len(_schedule_events(sessions)) > 0, log)
            _terminate(process)
            code = process.wait(timeout=10)
        finally:
            _stop(process)

        assert code == 0, log.read_text()
        # The batch in hand when the signal came was fired and committed whole; the
        # batches after it were not claimed.
        fired = len(_schedule_events(sessions))
        assert 0 < fired < count and fired % batch == 0, fired
        assert _schedules_at(sessions, due) == count - fired

        # The next scheduler fires the rest, and nothing twice.
        celery = make_celery(settings, name="test-graceful-scheduler")
        try:
            Scheduler(sessions, CeleryTaskSender(celery), settings).tick()
        finally:
            celery.close()
        fires = [(e.source_name, e.payload["fire_at"]) for e in _schedule_events(sessions)]
        assert len(fires) == len(set(fires)) == count


def test_scheduler_stuck_past_the_grace_exits_0_with_nothing_half_written(
    store: Settings, tmp_path: Path
) -> None:
    settings = store.model_copy(
        update={
            "scheduler_batch_size": 40,
            "scheduler_tick_seconds": 1.0,
            "scheduler_sync_seconds": 600.0,
            "shutdown_grace_seconds": 1.5,
        }
    )
    log = tmp_path / "scheduler.log"
    with _engine(settings) as (engine, sessions):
        _scheduled_store(settings, sessions, 60)
        process = _start(settings, "scheduler", log)
        try:
            _wait("the schedules synced", lambda: _synced(sessions, 60), log)
            due = utcnow().replace(microsecond=0) - timedelta(seconds=1)
            with _writes_held(engine, "schedules") as held:
                held.execute(update(Schedule).values(next_fire_at=due))
                time.sleep(2.0)
                signalled = _terminate(process)
                code = process.wait(timeout=10)  # the store stays blocked throughout
                took = time.monotonic() - signalled
        finally:
            _stop(process)

        assert code == 0, log.read_text()
        assert 1.5 <= took < 5.0, took
        assert "grace period over" in log.read_text()
        assert _schedule_events(sessions) == []
        assert _schedules_at(sessions, due) == 60  # all still due, for the next scheduler


# -- listener -------------------------------------------------------------------------


def test_listener_sigterm_mid_round_polls_no_further_watch_and_exits_0(
    store: Settings, tmp_path: Path
) -> None:
    settings = store.model_copy(
        update={"listener_poll_seconds": 1.0, "shutdown_grace_seconds": 10.0}
    )
    inbox = tmp_path / "inbox"
    log = tmp_path / "listener.log"
    with _engine(settings) as (engine, sessions):
        with sessions.begin() as session:
            for n in range(20):
                (inbox / f"w{n}").mkdir(parents=True)
                (inbox / f"w{n}" / "old.csv").write_text("x")
                trigger = {"file_arrival": {"url": f"file://{inbox}/w{n}/"}}
                workflows_repo.create_workflow(
                    session, name=f"w{n:02d}", source=simple_workflow(f"w{n:02d}", trigger=trigger)
                )

        def watches() -> list[FileWatch]:
            with sessions() as session:
                return list(session.scalars(select(FileWatch).order_by(FileWatch.id)))

        process = _start(settings, "listener", log)
        try:
            _wait(
                "every watch polled once",
                lambda: len(ws := watches()) == 20 and all(w.initialized for w in ws),
                log,
            )
            with _writes_held(engine, "file_watches") as held:
                before = dict(held.execute(select(FileWatch.id, FileWatch.updated_at)).all())
                for n in range(20):
                    (inbox / f"w{n}" / "new.csv").write_text("x")
                time.sleep(2.0)  # polls are 1 s apart: the next round is blocked
                _terminate(process)
                time.sleep(0.5)
                assert process.poll() is None
            code = process.wait(timeout=10)
        finally:
            _stop(process)

        assert code == 0, log.read_text()
        after = watches()
        assert {w.id: w.updated_at for w in after} == before  # no watch polled again
        assert [w.lease_owner for w in after] == [None] * 20  # no lease left held
        with sessions() as session:
            assert (
                session.scalars(
                    select(TriggerEvent).where(TriggerEvent.source == "file_arrival")
                ).all()
                == []
            )


# -- API ------------------------------------------------------------------------------


def test_api_sigterm_finishes_the_request_in_flight_and_exits_0(
    lockgate: Lockgate, tmp_path: Path
) -> None:
    assert lockgate.api.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 201
    hook = {"name": "orders", "workflow": "etl", "secret": SECRET}
    assert lockgate.api.post("/api/v1/hooks", json=hook).status_code == 201
    port = free_port()
    settings = lockgate.settings.model_copy(
        update={"api_port": port, "shutdown_grace_seconds": 10.0}
    )
    log = tmp_path / "api.log"
    process = _start(settings, "api", log)
    try:
        _wait("the API", lambda: _answers(f"http://127.0.0.1:{port}/healthz"), log)
        body = b'{"order": 42, "padding": "' + b"x" * 4000 + b'"}'
        timestamp = str(int(time.time()))
        head = (
            f"POST /hooks/orders HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{TIMESTAMP_HEADER}: {timestamp}\r\n"
            f"{SIGNATURE_HEADER}: {sign(SECRET, timestamp, body)}\r\n\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
            conn.sendall(head + body[:1000])  # the request is in flight, its body half sent
            time.sleep(0.3)
            signalled = _terminate(process)
            time.sleep(0.5)
            assert process.poll() is None  # waiting for our request
            with pytest.raises(ConnectionRefusedError):  # but taking no new one
                socket.create_connection(("127.0.0.1", port), timeout=2).close()
            conn.sendall(body[1000:])
            response = _read_all(conn)
        code = process.wait(timeout=10)
        took = time.monotonic() - signalled
    finally:
        _stop(process)

    assert response.startswith(b"HTTP/1.1 202"), response[:300]
    assert code == 0, log.read_text()
    assert took < 10.0
    events = lockgate.api.get("/api/v1/events", params={"limit": 10}).json()["items"]
    assert [e["source_name"] for e in events if e["source"] == "webhook"] == ["orders"]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _read_all(conn: socket.socket) -> bytes:
    chunks = []
    while chunk := conn.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# -- supervisor (`lockgate up`) ---------------------------------------------------------

CHILD = """
import signal, sys, time
from pathlib import Path
name, log = sys.argv[1], Path(sys.argv[2])
def stop(*_):
    with log.open("a") as out:
        out.write(f"{name} got SIGTERM\\n")
    time.sleep(0.3)  # draining
    with log.open("a") as out:
        out.write(f"{name} exited\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
with log.open("a") as out:
    out.write(f"{name} ready\\n")
while True:
    time.sleep(0.05)
"""


def test_supervisor_stops_the_last_started_first_and_waits_for_each(tmp_path: Path) -> None:
    log = tmp_path / "children.log"
    supervisor = Supervisor(grace_seconds=5.0)
    for name in ("redis", "worker", "api"):
        supervisor.start(name, [sys.executable, "-c", CHILD, name, str(log)], os.environ)
    _wait("the children ready", lambda: log.exists() and log.read_text().count("ready") == 3, log)

    assert supervisor.stop() is True

    lines = [line for line in log.read_text().splitlines() if "ready" not in line]
    assert lines == [
        "api got SIGTERM",
        "api exited",
        "worker got SIGTERM",
        "worker exited",
        "redis got SIGTERM",
        "redis exited",
    ]

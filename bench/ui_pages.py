"""Console page times: a 200-task run page, and the runs list's first, middle and last
pages, at 1,000 runs and again at 100,000.

Real parts: the SQLite store (WAL, migrated), real Redis for the console session, the
app from ``create_app`` with the console mounted. Server time is measured inside the
process, around the ASGI app (first byte in to last byte out), for requests made by a
signed-in client (Starlette's TestClient, so no socket time is counted).

The store holds one workflow with 200 tasks (a layered graph, ~2 dependencies each) and
a run of it with every task reported; the other runs (of 20 workflows, every trigger
source) are spread over 100 days. The middle and last pages are reached with the cursor
the page before would have given (keyset: ``before=<requested_at|id>``).

The usual alternative, measured on the same store: OFFSET paging (``ORDER BY
requested_at DESC, id DESC LIMIT 50 OFFSET n``), whose cost grows with n.

    .venv/bin/python -m bench.ui_pages [RUNS] [REPEATS]
"""

from __future__ import annotations

import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text
from starlette.testclient import TestClient

from service.api.keys import new_api_key
from service.app import create_app
from service.embedded.redis_server import redis_reachable, start_private_redis
from service.runs.queue import TaskSender
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import Run, TaskRun, TriggerEvent, Workflow
from service.store.repositories.api_keys import add_api_key
from service.ui._queries import encode_cursor

PAGE = 50
TASKS = 200
SOURCES = ("webhook", "schedule", "file_arrival", "manual", "replay", "job_completion")
STATES = ("succeeded", "succeeded", "succeeded", "failed", "canceled", "running")
START = datetime(2026, 8, 1, tzinfo=UTC)

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class NoSender:
    """The bench posts nothing: no Celery message is sent."""

    def send(self, task_name: str, *args: str) -> None:
        return None


class ServerTimer:
    """ASGI wrapper: the time from the request reaching the app to its last body byte."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()

        async def timed_send(message: MutableMapping[str, Any]) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.last_ms = (time.perf_counter() - started) * 1000

        await self.app(scope, receive, timed_send)


def _workflow_source(name: str, tasks: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for i in range(tasks):
        depends = sorted({i - 1, i // 2} - {i}) if i else []
        items.append(
            {
                "task_key": f"task-{i:03d}",
                "type": "notebook",
                "notebook_path": f"/Shared/bench/{i}",
                **({"depends_on": [f"task-{d:03d}" for d in depends]} if depends else {}),
            }
        )
    return {"name": name, "tasks": items}


def seed(settings: Settings, runs: int, *, first: int = 0) -> tuple[str, str]:
    """Adds runs ``first``..``runs``-1 (and, the first time, the workflows, the 200-task
    run and a key); returns (the big run's id, the key)."""
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    key = ""
    with sessions.begin() as session:
        workflows = list(session.scalars(select(Workflow.id).order_by(Workflow.name)))
        if not workflows:
            big = Workflow(
                name="bench-200-tasks", source=_workflow_source("bench-200-tasks", TASKS)
            )
            session.add(big)
            session.add_all(
                Workflow(name=f"bench-{i:02d}", source=_workflow_source(f"bench-{i:02d}", 3))
                for i in range(19)
            )
            session.flush()
            workflows = list(session.scalars(select(Workflow.id).order_by(Workflow.name)))
            plaintext, prefix, key_hash = new_api_key()
            add_api_key(session, name="bench", prefix=prefix, key_hash=key_hash, scopes=["read"])
            key = plaintext
    big_id = ""
    span = timedelta(days=100)
    for chunk_start in range(first, runs, 5000):
        events: list[dict[str, Any]] = []
        rows: list[dict[str, Any]] = []
        for i in range(chunk_start, min(runs, chunk_start + 5000)):
            event_id, run_id = uuid.uuid4().hex, uuid.uuid4().hex
            at = START + span * (i / max(runs, 100_000))
            workflow_id = workflows[i % len(workflows)]
            events.append(
                {
                    "id": event_id,
                    "source": SOURCES[i % len(SOURCES)],
                    "source_name": "bench",
                    "dedupe_key": f"k{i}",
                    "workflow_id": workflow_id,
                    "payload": {},
                    "parameters": {},
                    "status": "dispatched",
                    "verdict": "dispatched",
                    "received_at": at,
                }
            )
            rows.append(
                {
                    "id": run_id,
                    "workflow_id": workflow_id,
                    "trigger_event_id": event_id,
                    "status": STATES[i % len(STATES)],
                    "attempt": 1,
                    "parameters": {},
                    "requested_at": at,
                    "updated_at": at,
                    "workspace": "default",
                }
            )
        with sessions.begin() as session:
            session.execute(insert(TriggerEvent), events)
            session.execute(insert(Run), rows)
    with sessions.begin() as session:
        big_workflow = session.scalar(select(Workflow.id).where(Workflow.name == "bench-200-tasks"))
        big_id = (
            session.scalar(
                select(Run.id)
                .where(Run.workflow_id == big_workflow)
                .order_by(Run.requested_at.desc())
                .limit(1)
            )
            or ""
        )
        if session.scalar(select(TaskRun.id).where(TaskRun.run_id == big_id).limit(1)) is None:
            now = START
            session.execute(
                insert(TaskRun),
                [
                    {
                        "id": uuid.uuid4().hex,
                        "run_id": big_id,
                        "task_key": f"task-{i:03d}",
                        "attempt_number": 0,
                        "life_cycle_state": "TERMINATED",
                        "result_state": "SUCCESS" if i % 17 else "FAILED",
                        "error": "Traceback ...\nValueError: bad row" if i % 17 == 0 else None,
                        "started_at": now + timedelta(seconds=i * 3),
                        "ended_at": now + timedelta(seconds=i * 3 + 20),
                        "duration_ms": 20_000,
                    }
                    for i in range(TASKS)
                ],
            )
    engine.dispose()
    return big_id, key


def _cursor_at(settings: Settings, offset: int) -> str | None:
    """The cursor the page before row ``offset`` hands out (its last row's key)."""
    if offset == 0:
        return None
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT requested_at, id FROM runs"
                " ORDER BY requested_at DESC, id DESC LIMIT 1 OFFSET :n"
            ),
            {"n": offset - 1},
        ).one()
    engine.dispose()
    at = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(str(row[0]))
    return encode_cursor(at if at.tzinfo else at.replace(tzinfo=UTC), row[1])


def _offset_ms(settings: Settings, offset: int, repeats: int) -> float:
    engine = make_engine(settings.resolved_database_url)
    times = []
    with engine.connect() as connection:
        for _ in range(repeats):
            started = time.perf_counter()
            connection.execute(
                text("SELECT * FROM runs ORDER BY requested_at DESC, id DESC LIMIT :l OFFSET :n"),
                {"l": PAGE, "n": offset},
            ).all()
            times.append((time.perf_counter() - started) * 1000)
    engine.dispose()
    return statistics.median(times)


def measure(
    settings: Settings, key: str, big_run: str, runs: int, repeats: int
) -> dict[str, float]:
    timer = ServerTimer(None)
    sender: TaskSender = NoSender()
    app = create_app(settings, task_sender=sender)
    timer.app = app
    figures: dict[str, float] = {}
    with TestClient(timer, base_url="http://localhost") as client:  # type: ignore[arg-type]
        form = client.get("/ui/sign-in").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token
        signed = client.post(
            "/ui/sign-in", data={"key": key, "csrf_token": token.group(1)}, follow_redirects=False
        )
        assert signed.status_code == 303, signed.text
        last = (runs - 1) // PAGE * PAGE
        pages = {"run page (200 tasks)": f"/ui/runs/{big_run}"}
        for label, offset in (
            ("list: first page", 0),
            ("list: middle page", runs // 2 // PAGE * PAGE),
            ("list: last page", last),
        ):
            cursor = _cursor_at(settings, offset)
            pages[label] = "/ui/runs" + (f"?before={cursor}" if cursor else "")
        for label, path in pages.items():
            client.get(path)  # warm: templates compiled, definition parsed once per process
            times = []
            for _ in range(repeats):
                response = client.get(path)
                assert response.status_code == 200, (path, response.text[:300])
                times.append(timer.last_ms)
            figures[label] = statistics.median(times)
            if label.startswith("list"):
                assert response.text.count('<a href="/ui/runs/') >= 1
    figures["OFFSET query alone: last page"] = _offset_ms(settings, last, repeats)
    return figures


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    redis_process = None
    redis_url = "redis://127.0.0.1:6379/13"
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if not redis_reachable(redis_url):
            redis_url, redis_process = start_private_redis(tmp / "redis")
        settings = Settings(
            data_dir=tmp / "data",
            database_url=f"sqlite:///{tmp / 'ui.db'}",
            redis_url=redis_url,
            queue_prefix=f"bench-ui-{uuid.uuid4().hex[:8]}",
        )
        upgrade(settings.resolved_database_url)
        try:
            print(f"console page server times (median of {repeats}, ms)")
            done = 0
            key = ""
            for size in sorted({min(1000, runs), runs}):
                started = time.perf_counter()
                big_run, new_key = seed(settings, size, first=done)
                key = key or new_key
                done = size
                print(f"\n{size:,} runs (seeded in {time.perf_counter() - started:.1f} s)")
                for label, ms in measure(settings, key, big_run, size, repeats).items():
                    print(f"  {label:34s} {ms:8.1f}")
        finally:
            if redis_process is not None:
                redis_process.terminate()


if __name__ == "__main__":
    main()

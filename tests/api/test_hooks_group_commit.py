"""POST /hooks/{name} through the group commit: concurrent deliveries each get their own
answer, and every 202 stands for committed rows, also when the API is killed mid-load."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import select

from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import TriggerEvent
from service.store.repositories import workflows as workflows_repo
from tests.api.conftest import Api
from tests.factories import make_settings, settings_env, signed_post, simple_workflow
from tests.servers import free_port

SECRET = "a-very-secret-hook-secret"
REPO_ROOT = Path(__file__).resolve().parents[2]


def test_concurrent_deliveries_each_get_their_own_answer(api: Api) -> None:
    assert api.client.post("/api/v1/workflows", json=simple_workflow("etl")).status_code == 201
    hook = {"name": "orders", "workflow": "etl", "secret": SECRET, "parameters": {"d": "$.date"}}
    assert api.client.post("/api/v1/hooks", json=hook).status_code == 201
    body = b'{"date": "2026-11-25"}'
    sends = [("orders", SECRET, f"k-{n}") for n in range(16)]
    sends += [("orders", SECRET, "k-0"), ("orders", SECRET, "k-0")]  # racing duplicates
    sends += [("orders", "not-the-secret-at-all", "k-bad"), ("nope", SECRET, "k-nope")]
    start = threading.Barrier(len(sends))

    def send(target: tuple[str, str, str]) -> httpx.Response:
        name, secret, key = target
        with httpx.Client(base_url=str(api.client.base_url), timeout=30) as client:
            start.wait(10)
            return signed_post(client, name, secret, body, idempotency_key=key)

    with ThreadPoolExecutor(len(sends)) as pool:
        responses = list(pool.map(send, sends))

    *accepted, bad, unknown = responses
    assert [r.status_code for r in accepted] == [202] * 18
    assert bad.status_code == 401 and unknown.status_code == 404
    copies = [r.json() for r in (accepted[0], accepted[16], accepted[17])]
    assert len({c["event_id"] for c in copies}) == 1
    assert sorted(c["duplicate"] for c in copies) == [False, True, True]
    assert len({r.json()["event_id"] for r in accepted}) == 16
    with api.sessions() as session:
        verdicts = [e.verdict for e in session.scalars(select(TriggerEvent))]
    assert sorted(v or "" for v in verdicts) == [""] * 16 + ["duplicate"] * 2 + ["rejected"]
    assert api.queued_messages() == 16  # announced before the 202s


def test_every_acknowledged_delivery_survives_the_api_being_killed(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    """SIGKILL the API while 16 senders keep posting: whatever got a 202 is in the
    ledger afterwards (the commit came first); what did not may or may not be."""
    port = free_port()
    settings = make_settings(
        tmp_path, redis_url=redis_url, queue_prefix=redis_prefix, api_port=port
    )
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        workflows_repo.create_workflow(session, name="etl", source=simple_workflow("etl"))
        workflows_repo.create_hook(
            session, name="orders", workflow_name="etl", secret=SECRET, parameters={}
        )
    api = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "api"],
        env=settings_env(settings),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, api)
        acknowledged: list[str] = []
        lock = threading.Lock()
        enough = threading.Event()

        def sender(n: int) -> None:
            with httpx.Client(base_url=url, timeout=10) as client:
                for i in range(10_000):
                    try:
                        response = signed_post(
                            client, "orders", SECRET, b"{}", idempotency_key=f"s{n}-{i}"
                        )
                    except httpx.HTTPError:
                        return  # the API is gone
                    if response.status_code == 202:
                        with lock:
                            acknowledged.append(response.json()["event_id"])
                            if len(acknowledged) >= 150:
                                enough.set()

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        assert enough.wait(60), "the API acknowledged too little"
        os.killpg(api.pid, signal.SIGKILL)
        api.wait(10)
        for thread in threads:
            thread.join(30)
    finally:
        if api.poll() is None:
            os.killpg(api.pid, signal.SIGKILL)
            api.wait(10)
    with sessions() as session:
        recorded = set(session.scalars(select(TriggerEvent.id)))
    engine.dispose()
    assert len(acknowledged) >= 150
    assert set(acknowledged) <= recorded


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the API exited on start"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the API did not start")

"""Live pages: the stream says "change" when what a page shows changes, and the page's
fragment then shows the new state; a stream without a session is refused."""

from __future__ import annotations

import re
import time

import httpx

from service.store.models import Run, TaskRun, utcnow
from tests.ui.conftest import Console
from tests.ui.seed import seed


def _version(html: str, stream: str) -> str:
    found = re.search(r'data-stream="' + re.escape(stream) + r'"[^>]*data-version="([^"]*)"', html)
    assert found, f"no live region streaming {stream}"
    return found.group(1)


def _next_event(response: httpx.Response, deadline: float) -> dict[str, str]:
    event: dict[str, str] = {}
    for line in response.iter_lines():
        if time.monotonic() > deadline:
            break
        if not line:
            if "event" in event:
                return event
            event = {}
            continue
        name, _, value = line.partition(":")
        if name:  # a line starting with ":" is a comment (the heartbeat)
            event[name] = value.strip()
    raise AssertionError("no event before the deadline")


def test_the_run_page_stream_announces_a_change_and_the_fragment_shows_it(console: Console) -> None:
    s = seed(console.sessions)
    client = console.signed_in("read")
    page = client.get(f"/ui/runs/{s.evil_run_id}").text
    stream = f"/ui/stream/runs/{s.evil_run_id}"
    version = _version(page, stream)
    with client.stream("GET", f"{stream}?since={version}", timeout=15) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        time.sleep(0.6)  # a few unchanged looks: nothing is sent for them
        with console.sessions.begin() as session:
            run = session.get(Run, s.evil_run_id)
            assert run is not None
            run.status, run.ended_at, run.updated_at = "succeeded", utcnow(), utcnow()
            session.add(
                TaskRun(
                    run_id=run.id,
                    task_key="only",
                    life_cycle_state="TERMINATED",
                    result_state="SUCCESS",
                )
            )
        started = time.monotonic()
        event = _next_event(response, started + 10)
        assert event["event"] == "change"
        assert event["id"] != version
        assert time.monotonic() - started < 5
    fragment = client.get(f"/ui/runs/{s.evil_run_id}?fragment=true")
    assert fragment.status_code == 200
    assert "data-live-content" in fragment.text and "<html" not in fragment.text
    assert ">succeeded</span>" in fragment.text and ">SUCCESS</text>" in fragment.text


def test_the_runs_list_and_overview_streams_see_a_new_run(console: Console) -> None:
    s = seed(console.sessions)
    client = console.signed_in("read")
    for page, stream in (("/ui/runs", "/ui/stream/runs"), ("/ui", "/ui/stream/overview")):
        version = _version(client.get(page).text, stream)
        with client.stream("GET", f"{stream}?since={version}", timeout=15) as response:
            with console.sessions.begin() as session:
                run = session.get(Run, s.run_id)
                assert run is not None
                run.status, run.updated_at = "running", utcnow()
            event = _next_event(response, time.monotonic() + 10)
            assert event["event"] == "change", stream
        with console.sessions.begin() as session:
            run = session.get(Run, s.run_id)
            assert run is not None
            run.status, run.updated_at = "failed", utcnow()


def test_a_stream_needs_a_session(console: Console) -> None:
    response = console.client().get("/ui/stream/runs", headers={"Accept": "text/event-stream"})
    assert response.status_code == 401

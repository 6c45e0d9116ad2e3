"""Live pages: server-sent events that say "this page changed".

Each live page carries a version (a fingerprint of what it shows) and opens
``/ui/stream/<page>?since=<version>`` with an EventSource (static/console.js). The stream
recomputes the fingerprint every ``console_stream_interval_seconds`` (a few indexed
queries) and sends ``event: change`` when it differs; the script then fetches the page's
fragment and swaps it in. So the browser never polls, a change made between the page's
render and the stream's start is still seen (``since``), and a reconnect resumes from
the last version sent (``Last-Event-ID``).

A stream ends itself after ``MAX_STREAM_SECONDS`` (the browser reconnects at once and the
session is checked again), so a signed-out or revoked session stops streaming soon, and
no stream holds a server's shutdown for long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.ui._events import events_fingerprint
from service.ui._overview import overview_fingerprint
from service.ui._render import secure_headers
from service.ui._runs import run_fingerprint, runs_fingerprint
from service.ui._sessions import SignedIn

router = APIRouter(prefix="/ui/stream", include_in_schema=False)

MAX_STREAM_SECONDS = 30.0
HEARTBEAT_SECONDS = 10.0
RECONNECT_MS = 1000


async def _changes(
    request: Request, fingerprint: Callable[[], str], since: str | None
) -> AsyncIterator[str]:
    interval = float(request.app.state.settings.console_stream_interval_seconds)
    last = request.headers.get("last-event-id") or since
    started = last_sent = time.monotonic()
    yield f"retry: {RECONNECT_MS}\n\n"
    while time.monotonic() - started < MAX_STREAM_SECONDS:
        if await request.is_disconnected():
            return
        current = await run_in_threadpool(fingerprint)
        now = time.monotonic()
        if current != last:
            # The first look with no version to compare says "ready", not "change".
            kind = "change" if last is not None else "ready"
            yield f"id: {current}\nevent: {kind}\ndata: {current}\n\n"
            last, last_sent = current, now
        elif now - last_sent >= HEARTBEAT_SECONDS:
            yield ": still here\n\n"  # keeps proxies from closing an idle stream
            last_sent = now
        await asyncio.sleep(interval)


def _stream(
    request: Request, fingerprint: Callable[[], str], since: str | None
) -> StreamingResponse:
    response = StreamingResponse(
        _changes(request, fingerprint, since),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},  # nginx: pass events on as they come
    )
    secure_headers(response)
    return response


@router.get("/overview")
def overview_stream(
    request: Request, console: SignedIn, since: str | None = None
) -> StreamingResponse:
    return _stream(request, lambda: overview_fingerprint(request), since)


@router.get("/runs")
def runs_stream(request: Request, console: SignedIn, since: str | None = None) -> StreamingResponse:
    return _stream(request, lambda: runs_fingerprint(request), since)


@router.get("/runs/{run_id}")
def run_stream(
    request: Request, run_id: str, console: SignedIn, since: str | None = None
) -> StreamingResponse:
    return _stream(request, lambda: run_fingerprint(request, run_id), since)


@router.get("/events")
def events_stream(
    request: Request, console: SignedIn, since: str | None = None
) -> StreamingResponse:
    return _stream(request, lambda: events_fingerprint(request), since)

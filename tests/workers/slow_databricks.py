"""A real HTTP proxy in front of the local Databricks backend that holds chosen requests
for a while before forwarding them, and tells which ones are in flight: so a test knows
a worker is inside a given Jobs API call when it signals the worker.

The hold is before forwarding: the backend acts on a held request only when the hold
ends, even if the worker that sent it has gone (as Databricks acts on a request whose
caller died)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import httpx

from tests.servers import serve_handler

RUN_NOW = "POST /api/2.2/jobs/run-now"
RUNS_LIST = "GET /api/2.2/jobs/runs/list"


@dataclass
class SlowDatabricks:
    upstream: str
    url: str = ""
    holds: dict[str, float] = field(default_factory=dict)  # "METHOD /path" -> seconds
    in_flight: Counter[str] = field(default_factory=Counter)
    forwarded: list[tuple[str, float]] = field(default_factory=list)  # (call, epoch seconds)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def forwards(self, call: str) -> list[float]:
        with self.lock:
            return [at for name, at in self.forwarded if name == call]

    def busy(self, call: str) -> int:
        with self.lock:
            return self.in_flight[call]


@contextmanager
def slow_databricks(upstream: str) -> Iterator[SlowDatabricks]:
    proxy = SlowDatabricks(upstream)
    http = httpx.Client(base_url=upstream, timeout=60)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            call = f"{self.command} {self.path.split('?')[0]}"
            with proxy.lock:
                proxy.in_flight[call] += 1
                hold = proxy.holds.get(call, 0.0)
            try:
                time.sleep(hold)
                with proxy.lock:
                    proxy.forwarded.append((call, time.time()))
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() in ("authorization", "content-type")
                }
                response = http.request(self.command, self.path, headers=headers, content=body)
            finally:
                with proxy.lock:
                    proxy.in_flight[call] -= 1
            try:
                self.send_response(response.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)
            except OSError:
                pass  # the caller is gone (a worker that exited): the backend acted anyway

        do_GET = do_POST = _handle

        def log_message(self, format: str, *args: object) -> None:
            return

    try:
        with serve_handler(Handler) as url:
            proxy.url = url
            yield proxy
    finally:
        http.close()

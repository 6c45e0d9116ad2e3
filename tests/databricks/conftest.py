"""A real HTTP fixture server the client talks to over real sockets.

One ``ThreadingHTTPServer`` on port 0 per session; each test programs its replies per
(method, path) and reads back the requests it received (method, path, query, headers,
JSON body). Unprogrammed paths answer 404 ``ENDPOINT_NOT_FOUND``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from service.databricks import DatabricksClient, PatAuth

RECORDED = Path(__file__).parent / "recorded"
TEST_TOKEN = "dapi-test-0123456789abcdef"


def recorded(name: str) -> dict[str, Any]:
    """A recorded-shape Jobs API response from tests/databricks/recorded/."""
    data: dict[str, Any] = json.loads((RECORDED / name).read_text())
    return data


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = field(default_factory=dict)  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drop: bool = False  # close the connection without answering


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    json: Any


Responder = Callable[[RecordedRequest], Reply]


class FixtureServer:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: dict[tuple[str, str], list[Reply] | Responder] = {}
        self.requests: list[RecordedRequest] = []
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
            self.requests.clear()

    def on(self, method: str, path: str, *replies: Reply | Responder) -> None:
        """Program replies in order (the last one repeats), or one responder function."""
        with self._lock:
            if len(replies) == 1 and callable(replies[0]):
                self._routes[(method, path)] = replies[0]
            else:
                self._routes[(method, path)] = [r for r in replies if isinstance(r, Reply)]

    def received(self, method: str, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if (r.method, r.path) == (method, path)]

    def _reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            route = self._routes.get((request.method, request.path))
            if route is None:
                return Reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "no route"})
            if callable(route):
                responder = route
            else:
                return route.pop(0) if len(route) > 1 else route[0]
        return responder(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a workspace does
            # Headers and body are separate writes: without this, Nagle + delayed ACK
            # cost 40 ms per keep-alive request.
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                request = RecordedRequest(
                    method=self.command,
                    path=split.path,
                    query={k: v[-1] for k, v in parse_qs(split.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    json=json.loads(raw) if raw else None,
                )
                reply = server._reply_for(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body)
                payload = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (a timeout test)

            do_GET = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler


@pytest.fixture(scope="session")
def _fixture_server() -> Iterator[FixtureServer]:
    server = FixtureServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(_fixture_server: FixtureServer) -> FixtureServer:
    _fixture_server.reset()
    return _fixture_server


@pytest.fixture
def make_client(server: FixtureServer) -> Iterator[Callable[..., DatabricksClient]]:
    """Factory for clients pointed at the fixture server; closes what it made."""
    made: list[DatabricksClient] = []

    def make(
        *, auth: httpx.Auth | None = None, url: str | None = None, **kwargs: Any
    ) -> DatabricksClient:
        kwargs.setdefault("max_retry_seconds", 0.0)
        kwargs.setdefault("timeout", 5.0)
        client = DatabricksClient(url or server.url, auth or PatAuth(TEST_TOKEN), **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on which nothing listens: connecting is refused for real."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"

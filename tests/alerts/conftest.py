"""Real servers for the alert channels: an aiosmtpd SMTP server (plain, and one that
requires STARTTLS and AUTH), an HTTP receiver, a port that refuses and one that never
answers. All bind port 0 on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from service.alerts import run_payload
from service.settings import Settings
from service.store.models import Run, TaskRun, TriggerEvent
from tests.self_signed import TLSFiles, write_self_signed

SMTP_USER = "alerts"
SMTP_PASSWORD = "s3cret-smtp-password"
SIGNING_SECRET = "test-signing-secret-do-not-log"


# --- SMTP -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes


@dataclass
class CollectingHandler:
    """Accepts mail, except for recipients whose local part asks for a 451 or a 550."""

    messages: list[ReceivedMail] = field(default_factory=list)

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        local_part = address.partition("@")[0]
        if local_part == "tempfail":
            return "451 4.3.0 Mailbox temporarily unavailable"
        if local_part == "nosuchuser":
            return "550 5.1.1 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.messages.append(
            ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), content)
        )
        return "250 Message accepted for delivery"


class EphemeralPortController(Controller):
    """aiosmtpd's Controller on port 0: learn the bound port before it connects to itself."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SMTPFixture:
    host: str
    port: int
    handler: CollectingHandler

    @property
    def messages(self) -> list[ReceivedMail]:
        return self.handler.messages


@pytest.fixture(scope="session")
def _smtp_server() -> Iterator[SMTPFixture]:
    handler = CollectingHandler()
    controller = EphemeralPortController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield SMTPFixture("127.0.0.1", controller.port, handler)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(_smtp_server: SMTPFixture) -> SMTPFixture:
    _smtp_server.messages.clear()
    return _smtp_server


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return write_self_signed(tmp_path_factory.mktemp("tls"))


def _check_login(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (
        auth_data.login == SMTP_USER.encode() and auth_data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="session")
def _tls_smtp_server(tls_files: TLSFiles) -> Iterator[SMTPFixture]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    handler = CollectingHandler()
    controller = EphemeralPortController(
        handler,
        hostname="127.0.0.1",
        port=0,
        tls_context=context,
        require_starttls=True,
        authenticator=_check_login,
        auth_required=True,
    )
    controller.start()
    try:
        yield SMTPFixture("127.0.0.1", controller.port, handler)
    finally:
        controller.stop()


@pytest.fixture
def tls_smtp_server(
    _tls_smtp_server: SMTPFixture, tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch
) -> SMTPFixture:
    # ssl.create_default_context() loads OpenSSL's default verify paths, which honour
    # SSL_CERT_FILE: the client trusts our self-signed server the way it would trust a CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files.cert))
    _tls_smtp_server.messages.clear()
    return _tls_smtp_server


# --- plain TCP ports ------------------------------------------------------------------


@pytest.fixture
def refused_port() -> int:
    """A port nothing listens on: bound, then closed, so connecting is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes the handshake) but never
    says a word: an SMTP greeting or HTTP response never comes."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


# --- HTTP receiver --------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HTTPReceiver:
    """Records every POST. The path picks the answer: ``/status/<code>`` answers that code
    (429 and 503 with ``Retry-After: 7``), ``/slow`` answers after a second, ``/redirect``
    answers 302, anything else 204."""

    base_url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Requests seen per path: ``/flaky/<id>/<n>`` answers 500 (Retry-After: 7) to its
    # first n requests, then 204; ``/hang/<id>/<n>`` stays silent for 3 s on its first n.
    seen: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


def _receiver_handler(receiver: HTTPReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            with receiver.lock:
                receiver.requests.append(ReceivedRequest(self.path, headers, body))
                receiver.seen[self.path] = count = receiver.seen.get(self.path, 0) + 1
            status, extra_headers = self._answer(count)
            if self.path == "/slow":
                time.sleep(1.0)
            if self.path.startswith("/hang/") and count <= int(self.path.rsplit("/", 1)[1]):
                time.sleep(3.0)
            self.send_response(status)
            for key, value in extra_headers.items():
                self.send_header(key, value)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"no")

        def _answer(self, count: int) -> tuple[int, dict[str, str]]:
            parts = urlsplit(self.path)
            path = parts.path
            if path.startswith("/flaky/") and count <= int(path.rsplit("/", 1)[1]):
                return 500, {"Retry-After": "7"}
            if path in ("/redirect307", "/redirect302"):
                return int(path[-3:]), {"Location": parse_qs(parts.query)["to"][0]}
            if path.startswith("/status/"):
                status = int(path.removeprefix("/status/"))
                return status, ({"Retry-After": "7"} if status in (429, 503) else {})
            if path == "/redirect":
                return 302, {"Location": "http://example.invalid/elsewhere"}
            return 204, {}

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the /slow client hangs up on purpose; a broken pipe is expected


@pytest.fixture(scope="session")
def _http_receiver() -> Iterator[HTTPReceiver]:
    receiver = HTTPReceiver(base_url="")
    server = _QuietServer(("127.0.0.1", 0), _receiver_handler(receiver))
    receiver.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http_receiver(_http_receiver: HTTPReceiver) -> HTTPReceiver:
    with _http_receiver.lock:
        _http_receiver.requests.clear()
    return _http_receiver


# --- settings -------------------------------------------------------------------------


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings for one test; every alert setting is explicit so LOCKGATE_* in the
    developer's environment cannot change what a test means."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path,
            "smtp_host": None,
            "smtp_port": 25,
            "smtp_username": None,
            "smtp_password": None,
            "smtp_starttls": False,
            "smtp_timeout_seconds": 5.0,
            "mail_from": "Lockgate <lockgate@alerts.example.com>",
            "alert_signing_secret": SIGNING_SECRET,
            "alert_timeout_seconds": 5.0,
            "environment": "development",
            # The receivers here listen on loopback, which the egress guard refuses unless
            # allow-listed; the SSRF tests override this.
            "alert_egress_allowed_networks": ["127.0.0.0/8", "::1/128"],
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def failed_run_payload() -> dict[str, Any]:
    """A payload as ``run_payload`` builds it for a failed run (rows not stored)."""
    started = dt.datetime(2024, 5, 1, 2, 0, tzinfo=dt.UTC)
    run = Run(
        id="run-7f3a",
        workflow_id="wf-1",
        trigger_event_id="evt-1",
        status="failed",
        attempt=1,
        parameters={"date": "2024-05-01"},
        databricks_run_id=4242,
        run_page_url="http://127.0.0.1:8091/#job/7/run/4242",
        life_cycle_state="TERMINATED",
        result_state="FAILED",
        state_message="Task data-validation failed.",
        requested_at=started,
        started_at=started,
        ended_at=dt.datetime(2024, 5, 1, 2, 3, 5, tzinfo=dt.UTC),
    )
    run.tasks = [
        TaskRun(
            task_key="data-validation",
            result_state="FAILED",
            attempt_number=0,
            error="Traceback (most recent call last):\nValueError: 17 rows without customer_id",
            started_at=started,
            ended_at=started + dt.timedelta(seconds=95),
        ),
        TaskRun(task_key="load-warehouse", result_state="UPSTREAM_FAILED", attempt_number=0),
    ]
    trigger = TriggerEvent(
        id="evt-1", source="schedule", source_name="nightly", received_at=started
    )
    return run_payload(
        event_type="run.failed",
        occurred_at=run.ended_at or started,
        run=run,
        workflow_name="comprehensive-etl-pipeline",
        workflow_tags={"team": "data"},
        trigger=trigger,
        lockgate_base_url="https://lockgate.example.com",
    )

"""The console served for real (uvicorn on a free port, the app from ``create_app``),
a migrated store of its own, the real Redis for sessions, and keys of each scope."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.api.keys import new_api_key
from service.app import create_app
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.repositories.api_keys import add_api_key
from tests.factories import make_settings
from tests.servers import serve_app
from tests.ui.entra_stand_in import EntraStandIn, serve_entra_stand_in

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


@dataclass
class Console:
    url: str
    settings: Settings
    sessions: sessionmaker[Session]
    keys: dict[str, str] = field(default_factory=dict)  # scope -> plaintext key
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)
        self.clients.append(client)
        return client

    def signed_in(self, scope: str = "admin") -> httpx.Client:
        """A browser-like client signed in with a key of this scope."""
        client = self.client()
        form = client.get("/ui/sign-in")
        assert form.status_code == 200, form.text
        response = client.post(
            "/ui/sign-in",
            data={"key": self.keys[scope], "csrf_token": csrf_of(form.text), "next": "/ui"},
        )
        assert response.status_code == 303, response.text
        return client

    def post_form(
        self, client: httpx.Client, page: str, action: str, data: dict[str, str] | None = None
    ) -> httpx.Response:
        """Posts a form as a browser would: with the CSRF token of the page it is on."""
        token = csrf_of(client.get(page).text)
        return client.post(action, data={"csrf_token": token, **(data or {})})


def _key(sessions: sessionmaker[Session], scope: str) -> str:
    plaintext, prefix, key_hash = new_api_key()
    with sessions.begin() as session:
        add_api_key(
            session, name=f"{scope}-person", prefix=prefix, key_hash=key_hash, scopes=[scope]
        )
    return plaintext


@pytest.fixture
def make_console(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> Iterator[Callable[..., Console]]:
    """Starts the console (once per test; ``make_console(**settings)``)."""
    stack: list[tuple[Console, object]] = []

    def make(**overrides: object) -> Console:
        settings = make_settings(
            tmp_path,
            redis_url=redis_url,
            queue_prefix=redis_prefix,
            console_stream_interval_seconds=0.2,
            **overrides,
        )
        upgrade(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        sessions = make_session_factory(engine)
        server = serve_app(create_app(settings))
        url = server.__enter__()
        console = Console(url, settings, sessions)
        for scope in ("read", "trigger", "admin"):
            console.keys[scope] = _key(sessions, scope)
        stack.append((console, (server, engine)))
        return console

    yield make
    for console, (server, engine) in reversed(stack):  # type: ignore[misc]
        for client in console.clients:
            client.close()
        server.__exit__(None, None, None)
        engine.dispose()


@pytest.fixture
def console(make_console: Callable[..., Console]) -> Console:
    return make_console()


@pytest.fixture
def entra(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EntraStandIn]:
    """A stand-in Entra tenant (tests.ui.entra_stand_in) whose certificate this process
    trusts: MSAL through requests, the signing-key fetch through urllib."""
    with serve_entra_stand_in(tmp_path_factory.mktemp("entra")) as stand_in:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(stand_in.ca_file))
        monkeypatch.setenv("SSL_CERT_FILE", str(stand_in.ca_file))
        yield stand_in

"""Console sessions: a sign-in becomes a server-side session in Redis, referenced by a
cookie that scripts cannot read.

- The cookie holds a random session id; Redis holds the session under the id's SHA-256,
  so someone who can read Redis still cannot present a session. The Redis key expires
  with the session (``console_session_seconds`` after sign-in; an Entra token's own
  expiry if sooner).
- The cookie is HttpOnly, SameSite=Strict (no other site's page can make the browser
  send it), Path=/ui, and Secure when the console is served over https.
- Each session has a CSRF token (session-bound, random) that every state-changing form
  carries and the server compares in constant time. The sign-in form, which has no
  session yet, uses a double-submit cookie instead.
- Each request re-reads the API key behind a session: a revoked key ends its sessions
  at once, not when they expire.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import redis
from fastapi import Depends, Request, Response
from sqlalchemy import select

from service.api.access import Principal, Scope
from service.settings import Settings
from service.store.models import ApiKey
from service.ui._errors import SignInRequired, UiError
from service.ui._forms import Form, read_form

SESSION_COOKIE = "lockgate_console"
LOGIN_CSRF_COOKIE = "lockgate_console_login"
COOKIE_PATH = "/ui"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in person: who, with which scopes, until when."""

    key: str  # the Redis key (holds the id's hash, never the id)
    kind: str  # api_key | entra
    name: str
    scopes: frozenset[str]
    key_id: str | None
    csrf_token: str
    expires_at: float
    # "form" (a key or a pasted token) or "entra_page" (Microsoft's sign-in page, which
    # signing out then visits too).
    via: str = "form"

    @property
    def principal(self) -> Principal:
        kind: Literal["api_key", "entra"] = "entra" if self.kind == "entra" else "api_key"
        return Principal(kind=kind, name=self.name, scopes=self.scopes, key_id=self.key_id)

    def allows(self, scope: Scope) -> bool:
        return self.principal.allows(scope)

    def require(self, scope: Scope) -> Principal:
        """The principal, or a 403 page: what a key's scopes forbid is refused here even
        when a page (or a hand-made request) offers it."""
        if not self.allows(scope):
            raise UiError(403, "Not allowed", f"this needs the {scope!r} scope")
        return self.principal


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def session_redis(request: Request) -> redis.Redis:
    """The app's Redis client for sessions, made on first use (like the webhook limiter)."""
    client: redis.Redis | None = getattr(request.app.state, "ui_redis", None)
    if client is None:
        url = _settings(request).redis_url
        if not url:
            raise UiError(
                503,
                "Console unavailable",
                "the console keeps sessions in Redis: set LOCKGATE_REDIS_URL",
            )
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        request.app.state.ui_redis = client
    return client


def hashed_redis_key(settings: Settings, kind: str, secret_id: str) -> str:
    """Where Redis keeps what a cookie's random id points to: under the id's hash, so
    reading Redis does not give anyone an id to present."""
    digest = hashlib.sha256(secret_id.encode()).hexdigest()
    return f"{settings.queue_prefix}:ui:{kind}:{digest}"


def _redis_key(settings: Settings, session_id: str) -> str:
    return hashed_redis_key(settings, "session", session_id)


def https(request: Request) -> bool:
    public = _settings(request).public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def start_session(
    request: Request,
    response: Response,
    principal: Principal,
    *,
    until: float | None = None,
    via: str = "form",
) -> ConsoleSession:
    settings = _settings(request)
    now = time.time()
    expires_at = now + settings.console_session_seconds
    if until is not None:
        expires_at = min(expires_at, until)
    session_id = secrets.token_urlsafe(32)
    session = ConsoleSession(
        key=_redis_key(settings, session_id),
        kind=principal.kind,
        name=principal.name,
        scopes=principal.scopes,
        key_id=principal.key_id,
        csrf_token=secrets.token_urlsafe(32),
        expires_at=expires_at,
        via=via,
    )
    record = {
        "kind": session.kind,
        "name": session.name,
        "scopes": sorted(session.scopes),
        "key_id": session.key_id,
        "csrf": session.csrf_token,
        "expires_at": expires_at,
        "via": via,
    }
    ttl = max(1, int(expires_at - now))
    try:
        session_redis(request).set(session.key, json.dumps(record), ex=ttl)
    except redis.RedisError as exc:
        raise UiError(
            503, "Console unavailable", "sessions are kept in Redis, which did not answer"
        ) from exc
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=ttl,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=https(request),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=COOKIE_PATH)
    return session


def end_session(request: Request, response: Response, session: ConsoleSession | None) -> None:
    if session is not None:
        # On a Redis error the cookie goes anyway; the Redis key expires on its own.
        with contextlib.suppress(redis.RedisError):
            session_redis(request).delete(session.key)
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict", secure=https(request)
    )


def _load(request: Request) -> ConsoleSession | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or len(session_id) > 200:
        return None
    settings = _settings(request)
    key = _redis_key(settings, session_id)
    try:
        raw = session_redis(request).get(key)
    except redis.RedisError as exc:
        raise UiError(
            503, "Console unavailable", "sessions are kept in Redis, which did not answer"
        ) from exc
    if raw is None:
        return None
    record: dict[str, Any] = json.loads(raw)
    if float(record["expires_at"]) <= time.time():
        return None
    scopes: frozenset[str] | None = frozenset(record["scopes"])
    if record["kind"] == "api_key":
        scopes = _active_key_scopes(request, record.get("key_id"))
    if scopes is None:
        session_redis(request).delete(key)
        return None
    return ConsoleSession(
        key=key,
        kind=record["kind"],
        name=record["name"],
        scopes=scopes,
        key_id=record.get("key_id"),
        csrf_token=record["csrf"],
        expires_at=float(record["expires_at"]),
        via=str(record.get("via", "form")),
    )


def _active_key_scopes(request: Request, key_id: str | None) -> frozenset[str] | None:
    if key_id is None:
        return None
    with request.app.state.sessions() as db:
        row = db.execute(
            select(ApiKey.scopes, ApiKey.revoked_at).where(ApiKey.id == key_id)
        ).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return frozenset(row.scopes)


def optional_session(request: Request) -> ConsoleSession | None:
    """The signed-in session, if any; also left on ``request.state.console`` so every
    template can show who is signed in and use the CSRF token."""
    session = _load(request)
    request.state.console = session
    return session


def signed_in(request: Request) -> ConsoleSession:
    session = optional_session(request)
    if session is None:
        raise SignInRequired()
    return session


MaybeSignedIn = Annotated[ConsoleSession | None, Depends(optional_session)]
SignedIn = Annotated[ConsoleSession, Depends(signed_in)]


def tokens_match(given: str, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


async def checked_form(request: Request, session: SignedIn) -> Form:
    """The posted form, after its CSRF token is checked against the session's."""
    form = await read_form(request)
    if not tokens_match(form.get(CSRF_FIELD), session.csrf_token):
        raise UiError(
            403,
            "Form expired",
            "the form's security token does not match your session; reload the page and try again",
        )
    return form


CheckedForm = Annotated[Form, Depends(checked_form)]


def new_login_token() -> str:
    return secrets.token_urlsafe(32)

"""Receiving webhooks: POST /hooks/{name}.

The delivery itself is ``service.triggers.hook_delivery`` and ``hook_batch``; this
module turns HTTP into a ``HookDelivery`` and its outcome into a response. Each app has
one ledger writer thread (group commit, ``service.triggers.group_commit``): a request
hands its delivery over and waits for the batch holding it to commit, so a 202 always
follows the commit of its rows. Before the body is read, the hook's size and rate limits
apply, read from a cache of a few seconds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from service.api.problems import Problem
from service.runs.queue import TaskSender
from service.settings import Settings
from service.store.repositories import workflows as workflows_repo
from service.triggers.group_commit import GroupCommitter
from service.triggers.hook_batch import commit_deliveries
from service.triggers.hook_delivery import DeliveryOutcome, DeliveryRefused, HookDelivery
from service.triggers.rate_limit import InProcessRateLimiter, RateLimiter, RedisRateLimiter

router = APIRouter(tags=["ingress"])


_limiter_lock = threading.Lock()


def _rate_limiter(request: Request, settings: Settings) -> RateLimiter:
    """One limiter per app, made on first use (Redis when the app has one)."""
    limiter: RateLimiter | None = getattr(request.app.state, "hook_rate_limiter", None)
    if limiter is None:
        with _limiter_lock:
            limiter = getattr(request.app.state, "hook_rate_limiter", None)
            if limiter is None:
                limiter = (
                    RedisRateLimiter(settings.redis_url, settings.queue_prefix)
                    if settings.redis_url
                    else InProcessRateLimiter()
                )
                request.app.state.hook_rate_limiter = limiter
    return limiter


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes ``limit`` bytes (never buffered whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class _HookLimits:
    hook_id: str
    rate_limit_per_minute: int | None
    max_body_bytes: int | None
    read_at: float


_LIMITS_TTL_SECONDS = 5.0
_limits_cache: dict[tuple[int, str], _HookLimits] = {}


_limits_refreshing: set[tuple[int, str]] = set()


async def _limits_for(request: Request, name: str) -> _HookLimits:
    """The cached limits, re-read by one request when stale while the others go on with
    the stale ones (a herd of reads would queue for SQLite's write lock behind the
    ledger writer). Runs on the event loop only, so the set needs no lock."""
    key = (id(request.app), name)
    cached = _limits_cache.get(key)
    if cached is not None and (
        time.monotonic() - cached.read_at < _LIMITS_TTL_SECONDS or key in _limits_refreshing
    ):
        return cached
    _limits_refreshing.add(key)
    try:
        return await run_in_threadpool(_hook_limits, request, name)
    finally:
        _limits_refreshing.discard(key)


def _hook_limits(request: Request, name: str) -> _HookLimits:
    """A hook's limits, read at most every few seconds per process: they are needed
    before the body is read, and the delivery's own transaction re-reads the hook (so
    a deleted or disabled hook is refused at once; a changed limit applies within 5 s)."""
    key = (id(request.app), name)
    with request.app.state.sessions() as session:
        hook = workflows_repo.get_hook(session, name=name)
        if hook is None:
            raise Problem(404, "Hook not found", f"no hook is named {name!r}")
        if hook.disabled_at is not None:
            raise Problem(403, "Hook disabled", f"hook {name!r} is disabled")
        limits = _HookLimits(
            hook.id, hook.rate_limit_per_minute, hook.max_body_bytes, time.monotonic()
        )
    _limits_cache[key] = limits
    return limits


_writer_lock = threading.Lock()


def _hook_writer(
    request: Request, settings: Settings, sender: TaskSender
) -> GroupCommitter[HookDelivery, DeliveryOutcome]:
    """The app's one ledger writer, started on first use (the lifespan closes it)."""
    writer: GroupCommitter[HookDelivery, DeliveryOutcome] | None = getattr(
        request.app.state, "hook_writer", None
    )
    if writer is None:
        with _writer_lock:
            writer = getattr(request.app.state, "hook_writer", None)
            if writer is None:
                writer = GroupCommitter(
                    partial(
                        commit_deliveries,
                        request.app.state.sessions,
                        settings=settings,
                        sender=sender,
                    ),
                    name="hook-ledger-writer",
                    max_batch=settings.webhook_commit_max_batch,
                    linger_seconds=settings.webhook_commit_linger_ms / 1000,
                )
                request.app.state.hook_writer = writer
    return writer


async def receive_hook(request: Request) -> JSONResponse:
    """POST /hooks/{name}: 202 once the delivery's ledger rows are committed.

    The hottest route, so a plain Starlette route: FastAPI's per-request parameter and
    dependency handling cost about a tenth of a delivery's CPU (bench/webhooks.py). For
    the same reason settings and sender come from app state, not SettingsDep/SenderDep
    (sync dependencies run on the threadpool: two thread hops a delivery)."""
    name: str = request.path_params["name"]
    settings: Settings = request.app.state.settings
    sender: TaskSender = request.app.state.task_sender
    limits = await _limits_for(request, name)
    limit = limits.rate_limit_per_minute or settings.webhook_rate_limit_per_minute
    if limit is not None:
        limiter = _rate_limiter(request, settings)
        decision = await run_in_threadpool(limiter.hit, limits.hook_id, limit)
        if not decision.allowed:
            raise Problem(
                429,
                "Too many requests",
                f"hook {name!r} accepts {limit} deliveries a minute",
                headers={"Retry-After": str(decision.retry_after_seconds)},
            )
    max_bytes = limits.max_body_bytes or settings.webhook_max_body_bytes
    raw = await _read_body(request, max_bytes)
    delivery = HookDelivery(
        hook_name=name,
        body=raw,
        max_body_bytes=max_bytes,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        content_type=request.headers.get("content-type"),
    )
    # Resolves once the batch holding this delivery has committed (and announced).
    writer = _hook_writer(request, settings, sender)
    try:
        outcome = await writer.commit(delivery)
    except DeliveryRefused as refused:
        if refused.status == 404:
            _limits_cache.clear()
        raise Problem(
            refused.status,
            refused.title,
            refused.detail,
            errors=[{"path": refused.path, "message": refused.detail}] if refused.path else (),
        ) from refused
    headers = {"Idempotent-Replayed": "true"} if outcome.duplicate else {}
    return JSONResponse(outcome.body(), status_code=202, headers=headers)


router.routes.append(Route("/hooks/{name}", receive_hook, methods=["POST"], name="receive_hook"))

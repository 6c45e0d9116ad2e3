"""/healthz (the process answers) and /readyz (what it depends on answers).

Readiness checks the database, Redis and Databricks with short timeouts, and says which
failed, so an orchestrator stops routing to an instance that cannot do its work."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from service.settings import Settings

router = APIRouter(tags=["health"])

_TIMEOUT_SECONDS = 2.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_database(request: Request) -> str | None:
    with request.app.state.sessions() as session:
        session.execute(text("SELECT 1"))
    return None


def _check_redis(settings: Settings) -> str | None:
    if not settings.redis_url:
        return "LOCKGATE_REDIS_URL is not set"
    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=_TIMEOUT_SECONDS, socket_timeout=_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()
    return None


def _check_databricks(settings: Settings) -> str | None:
    # Any HTTP answer means the workspace is reachable; auth is checked by real calls.
    httpx.get(settings.databricks_url, timeout=_TIMEOUT_SECONDS)
    return None


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    settings: Settings = request.app.state.settings
    checks = {
        "database": lambda: _check_database(request),
        "redis": lambda: _check_redis(settings),
        "databricks": lambda: _check_databricks(settings),
    }

    async def run(check: Any) -> str:
        try:
            problem = await asyncio.wait_for(asyncio.to_thread(check), _TIMEOUT_SECONDS * 2)
        except Exception as exc:  # any failure means not ready; say what kind
            return f"failed: {type(exc).__name__}"
        return problem or "ok"

    results = dict(
        zip(checks, await asyncio.gather(*(run(c) for c in checks.values())), strict=True)
    )
    ready = all(value == "ok" for value in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results},
        status_code=200 if ready else 503,
    )

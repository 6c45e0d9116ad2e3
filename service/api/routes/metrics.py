"""/metrics in the Prometheus text format (no key: scrape it from inside the network)."""

from __future__ import annotations

import redis
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from service.observability import SharedCountersCollector, StoreCollector
from service.settings import Settings

router = APIRouter(tags=["health"])


def _queue_depth(client: redis.Redis | None, settings: Settings) -> int | None:
    if client is None:
        return None
    try:
        prefix = settings.queue_prefix
        return int(client.llen(f"{prefix}:{prefix}.tasks"))
    except redis.RedisError:
        return None


@router.get("/metrics")
def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    client = (
        redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        if settings.redis_url
        else None
    )
    try:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(
            StoreCollector(request.app.state.sessions, lambda: _queue_depth(client, settings))
        )
        if client is not None:
            # What the workers count (Jobs API calls, poll lag) lives in Redis.
            registry.register(SharedCountersCollector(client, settings))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    finally:
        if client is not None:
            client.close()

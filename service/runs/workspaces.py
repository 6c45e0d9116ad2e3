"""One Databricks client per workspace profile, each metered by that workspace's shared
request budgets (Redis token buckets, one for reads and one for writes: every worker
spends from the same ones), and each counting its calls by endpoint and status in Redis
for ``/metrics``."""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis

from service.databricks import DatabricksClient
from service.databricks.budget import (
    RedisTokenBucket,
    RequestClass,
    WorkspaceBudget,
    budget_redis,
)
from service.databricks.profiles import WorkspaceProfile, budget_size, workspace_profile
from service.observability.jobs_api_counters import JobsApiCounters, jobs_api_counters_key
from service.runs.hints import HintDestinations, hints_enabled
from service.settings import Settings


def budget_key(settings: Settings, profile: str, request_class: RequestClass) -> str:
    return f"{settings.queue_prefix}:budget:{profile}:{request_class.value}"


def workspace_budget(
    settings: Settings, redis_client: redis.Redis, workspace: WorkspaceProfile
) -> WorkspaceBudget:
    """The workspace's shared buckets, one per request class, sized by `budget_size`."""

    def bucket(request_class: RequestClass) -> RedisTokenBucket:
        size = budget_size(settings, workspace, request_class)
        return RedisTokenBucket(
            redis_client,
            budget_key(settings, workspace.name, request_class),
            rate=size.rate,
            burst=size.burst,
            max_wait_seconds=settings.databricks_budget_max_wait_seconds,
        )

    return WorkspaceBudget(reads=bucket(RequestClass.READS), writes=bucket(RequestClass.WRITES))


class WorkspaceClients:
    """Clients built on first use, one per profile name, shared by the process' threads."""

    def __init__(
        self,
        factory: Callable[[str], DatabricksClient],
        hints: HintDestinations | None = None,
    ) -> None:
        self._factory = factory
        self._clients: dict[str, DatabricksClient] = {}
        self._lock = threading.Lock()
        self.hints = hints  # the hint destination per workspace, when hints are on

    @classmethod
    def from_settings(
        cls, settings: Settings, redis_client: redis.Redis | None = None
    ) -> WorkspaceClients:
        if redis_client is None and settings.redis_url:
            redis_client = budget_redis(settings.redis_url)
        counters = (
            JobsApiCounters(redis_client, jobs_api_counters_key(settings))
            if redis_client is not None
            else None
        )

        def build(profile: str) -> DatabricksClient:
            workspace = workspace_profile(settings, profile)
            budget = (
                workspace_budget(settings, redis_client, workspace)
                if redis_client is not None
                else None
            )
            return DatabricksClient.from_settings(
                settings, profile=profile, budget=budget, on_exchange=counters
            )

        return cls(build, HintDestinations(settings) if hints_enabled(settings) else None)

    @classmethod
    def single(cls, client: DatabricksClient) -> WorkspaceClients:
        """Every profile answered by one client (tests, one-workspace tools)."""
        return cls(lambda _profile: client)

    def get(self, profile: str = "default") -> DatabricksClient:
        with self._lock:
            client = self._clients.get(profile)
            if client is None:
                client = self._clients[profile] = self._factory(profile)
            return client

    def profiles(self) -> list[str]:
        with self._lock:
            return list(self._clients)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in {id(c): c for c in clients}.values():
            client.close()

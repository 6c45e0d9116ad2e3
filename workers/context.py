"""Per-process resources for the tasks, built on first use (after the worker forks)."""

from __future__ import annotations

import threading
from functools import cached_property

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from service.databricks import DatabricksClient
from service.observability import PollLagRecorder, poll_lag_key
from service.runs.queue import TaskSender
from service.runs.workspaces import WorkspaceClients
from service.settings import Settings
from service.store.db import engine_from_settings, make_session_factory


class WorkerContext:
    def __init__(self, settings: Settings, sender: TaskSender) -> None:
        self.settings = settings
        self.sender = sender
        self._lock = threading.Lock()

    @cached_property
    def engine(self) -> Engine:
        with self._lock:
            return engine_from_settings(self.settings)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def workspaces(self) -> WorkspaceClients:
        """A client per workspace profile, all spending from Redis-held request budgets."""
        with self._lock:
            return WorkspaceClients.from_settings(self.settings)

    @property
    def databricks(self) -> DatabricksClient:
        """The default workspace's client."""
        return self.workspaces.get()

    @cached_property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.redis_url or "", socket_timeout=5, socket_connect_timeout=5
        )

    @cached_property
    def poll_lag(self) -> PollLagRecorder:
        return PollLagRecorder(self.redis, poll_lag_key(self.settings))

    def key(self, name: str) -> str:
        return f"{self.settings.queue_prefix}:{name}"

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from service.app import create_app
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from tests.factories import create_api_key, make_settings
from tests.queued_tasks import queued_work
from tests.servers import serve_app


@dataclass
class Api:
    client: httpx.Client  # authenticated with a valid key
    anonymous: httpx.Client
    sessions: sessionmaker[Session]
    settings: Settings
    redis: redis.Redis

    def queued_messages(self) -> int:
        """Work the API queued (read from the real Redis): a dispatch_events message counts
        once per event it carries."""
        return queued_work(self.redis, self.settings.queue_prefix)


@pytest.fixture
def api(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[Api]:
    settings = make_settings(tmp_path, redis_url=redis_url, queue_prefix=redis_prefix)
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    sessions = make_session_factory(engine)
    key = create_api_key(sessions)
    broker = redis.Redis.from_url(redis_url)
    with (
        serve_app(create_app(settings)) as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client,
        httpx.Client(base_url=url) as anonymous,
    ):
        yield Api(client, anonymous, sessions, settings, broker)
    broker.close()
    engine.dispose()

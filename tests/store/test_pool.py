"""The PostgreSQL pool follows the ``LOCKGATE_DATABASE_*`` settings: its size and wait
bound the connections a process holds, pre-ping survives connections the server dropped,
and recycling replaces old ones."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from service.settings import Settings
from service.store.db import PoolSettings, engine_from_settings, make_engine
from tests.databases import PostgresAdmin


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_full_pool_makes_the_next_caller_wait_then_fail(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCKGATE_DATABASE_POOL_SIZE", "2")
    monkeypatch.setenv("LOCKGATE_DATABASE_MAX_OVERFLOW", "1")
    monkeypatch.setenv("LOCKGATE_DATABASE_POOL_TIMEOUT_SECONDS", "0.3")
    engine = engine_from_settings(Settings(database_url=postgres_url))
    try:
        held = [engine.connect() for _ in range(3)]  # the pool's 2 plus 1 overflow
        started = time.monotonic()
        with pytest.raises(PoolTimeout):
            engine.connect()
        assert 0.25 <= time.monotonic() - started < 5
        held.pop().close()
        with engine.connect() as conn:  # a returned connection serves the next caller
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        for conn in held:
            conn.close()
    finally:
        engine.dispose()


@pytest.mark.parametrize("pre_ping", [True, False])
def test_pre_ping_replaces_a_connection_the_server_ended(
    postgres_url: str, postgres_admin: PostgresAdmin, pre_ping: bool
) -> None:
    engine = make_engine(postgres_url, PoolSettings(size=1, max_overflow=0, pre_ping=pre_ping))
    admin = make_engine(postgres_admin.admin_url)
    try:
        pid = _backend_pid(engine)  # that connection now waits in the pool
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        if pre_ping:
            assert _backend_pid(engine) != pid
        else:  # what pre-ping saves a request from: the dead connection's error
            with pytest.raises(OperationalError):
                _backend_pid(engine)
    finally:
        admin.dispose()
        engine.dispose()


def test_connections_older_than_recycle_are_replaced(postgres_url: str) -> None:
    engine = engine_from_settings(
        Settings(database_url=postgres_url, database_pool_size=1, database_pool_recycle_seconds=1)
    )
    try:
        first = _backend_pid(engine)
        assert _backend_pid(engine) == first  # reused while young
        time.sleep(1.2)
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()

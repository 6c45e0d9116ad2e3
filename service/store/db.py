"""Engines and sessions. SQLite gets WAL and a busy timeout so the API and several
worker threads can share one file; PostgreSQL gets a pool sized and aged by settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from service.settings import Settings


@dataclass(frozen=True)
class PoolSettings:
    """A PostgreSQL engine's connection pool (the ``database_pool_*`` settings)."""

    size: int = 10
    max_overflow: int = 10
    timeout_seconds: float = 30.0
    recycle_seconds: int = 1800  # -1: never
    pre_ping: bool = True
    connect_timeout_seconds: int = 10

    @classmethod
    def from_settings(cls, settings: Settings) -> PoolSettings:
        return cls(
            size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            timeout_seconds=settings.database_pool_timeout_seconds,
            recycle_seconds=settings.database_pool_recycle_seconds,
            pre_ping=settings.database_pool_pre_ping,
            connect_timeout_seconds=settings.database_connect_timeout_seconds,
        )


def engine_from_settings(settings: Settings) -> Engine:
    """The store's engine for a process: its URL and pool come from ``settings``."""
    return make_engine(settings.resolved_database_url, PoolSettings.from_settings(settings))


def make_engine(url: str, pool: PoolSettings | None = None) -> Engine:
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own BEGIN handling defers locks until the first write, which lets two
        # "read then update" transactions deadlock; issue BEGIN IMMEDIATE ourselves instead.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    pool = pool or PoolSettings()
    return create_engine(
        url,
        pool_size=pool.size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.timeout_seconds,
        pool_recycle=pool.recycle_seconds,
        pool_pre_ping=pool.pre_ping,
        connect_args={"connect_timeout": pool.connect_timeout_seconds},
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode a NORMAL commit survives the process dying, not an OS crash or power
    # loss; the webhook ingress commits its batches with FULL (service.triggers.hook_batch).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)

"""The SQLite store runs in WAL mode, on every connection the store's engines open: a
write then never blocks the API's and the workers' readers for its whole length, and a
commit is one append to the log. SQLite only; PostgreSQL has no journal mode."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Engine, text

from service.settings import Settings
from service.store.db import engine_from_settings, make_engine


def _journal_modes(engine: Engine, connections: int = 3) -> list[str]:
    """The journal mode reported by several distinct pooled connections (each is held
    while the next is opened, so the pool cannot hand the same one back)."""
    held = []
    modes = []
    try:
        for _ in range(connections):
            conn = engine.connect()
            held.append(conn)
            modes.append(str(conn.execute(text("PRAGMA journal_mode")).scalar_one()))
            conn.commit()  # the store begins IMMEDIATE: end it so the next can begin
        return modes
    finally:
        for conn in held:
            conn.close()


def _file_journal_mode(path: Path) -> str:
    """The mode recorded in the database file, as any other SQLite client sees it."""
    plain = sqlite3.connect(path)
    try:
        return str(plain.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        plain.close()


def test_make_engine_opens_sqlite_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "store" / "lockgate.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert _journal_modes(engine) == ["wal", "wal", "wal"]
        assert (tmp_path / "store" / "lockgate.db-wal").exists()
    finally:
        engine.dispose()
    assert _file_journal_mode(path) == "wal"


def test_the_embedded_default_store_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    # No database URL (even if the environment sets one): `lockgate up`'s default, a
    # SQLite file under the data dir.
    settings = Settings(data_dir=tmp_path / "data", database_url=None)
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'lockgate.db'}"
    engine = engine_from_settings(settings)
    try:
        assert _journal_modes(engine) == ["wal", "wal", "wal"]
    finally:
        engine.dispose()
    assert _file_journal_mode(tmp_path / "data" / "lockgate.db") == "wal"

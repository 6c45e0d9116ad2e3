"""Which database the suite's stores live on, and the throw-away PostgreSQL databases.

``LOCKGATE_TEST_DATABASE=postgresql`` moves every store the tests make onto PostgreSQL:
each test that asks for one gets a fresh, uniquely named database, dropped when the test
ends. Unset (or ``sqlite``), stores are SQLite files in the test's tmp folder, and only
the tests that ask for PostgreSQL by name use it.

Only databases created here are ever dropped: the server may be a shared one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError

DATABASE_SWITCH = "LOCKGATE_TEST_DATABASE"
SQLITE, POSTGRESQL = "sqlite", "postgresql"
# Every name starts with this, so a leftover from a killed run is easy to recognise.
NAME_PREFIX = "lockgate_test_"


def store_kind() -> str:
    kind = os.environ.get(DATABASE_SWITCH, SQLITE).strip().lower() or SQLITE
    if kind not in (SQLITE, POSTGRESQL):
        raise ValueError(f"{DATABASE_SWITCH}={kind!r}: expected {SQLITE!r} or {POSTGRESQL!r}")
    return kind


ON_POSTGRES = store_kind() == POSTGRESQL


class PostgresAdmin:
    """Creates and drops the suite's databases on one server, through its maintenance
    database (``admin_url``)."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._engine: Engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")

    def create_database(self) -> str:
        name = f"{NAME_PREFIX}{uuid.uuid4().hex[:12]}"
        with self._engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database or ""
        if not name.startswith(NAME_PREFIX):
            raise ValueError(f"refusing to drop {name!r}: the suite did not create it")
        with self._engine.connect() as conn:
            # FORCE ends what a test left connected (a killed worker's pool, say).
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._engine.dispose()


class TestDatabases:
    """The databases one test made, one per folder it built settings for (the same
    folder twice means the same store, as with a SQLite file)."""

    __test__ = False  # not a test class, whatever pytest's name matching thinks

    def __init__(self, admin: PostgresAdmin) -> None:
        self.admin = admin
        self._by_folder: dict[Path, str] = {}

    def url_for(self, folder: Path) -> str:
        if folder not in self._by_folder:
            self._by_folder[folder] = self.admin.create_database()
        return self._by_folder[folder]

    def drop_all(self) -> None:
        for url in self._by_folder.values():
            self.admin.drop_database(url)
        self._by_folder.clear()


_current: TestDatabases | None = None  # the running test's, under the PostgreSQL switch


@contextmanager
def databases_for_one_test(admin: PostgresAdmin) -> Iterator[TestDatabases]:
    global _current
    _current = TestDatabases(admin)
    try:
        yield _current
    finally:
        databases, _current = _current, None
        databases.drop_all()


def database_url_for(folder: Path) -> str:
    """The store URL for settings built in ``folder``: a SQLite file there, or under the
    PostgreSQL switch a fresh database of the running test's own (empty, like a new
    SQLite file: the caller migrates it)."""
    if not ON_POSTGRES:
        return f"sqlite:///{folder / 'lockgate.db'}"
    if _current is None:
        raise RuntimeError("a PostgreSQL store is made per test: build settings inside a test")
    return _current.url_for(folder)


def postgres_reachable(url: str, *, timeout: float) -> bool:
    engine = create_engine(url, connect_args={"connect_timeout": max(1, round(timeout))})
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()

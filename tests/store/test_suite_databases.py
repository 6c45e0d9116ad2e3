"""The suite's own databases: settings follow LOCKGATE_TEST_DATABASE, each test's
PostgreSQL databases are its own and dropped afterwards, nothing else is ever dropped, and
a machine without PostgreSQL gets a private server."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from tests.databases import ON_POSTGRES, PostgresAdmin, TestDatabases
from tests.factories import make_settings
from tests.postgres_server import private_postgres


def _database_names(admin: PostgresAdmin) -> set[str]:
    engine = create_engine(admin.admin_url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT datname FROM pg_database")).scalars())
    finally:
        engine.dispose()


def test_settings_get_this_runs_store_one_per_folder(tmp_path: Path) -> None:
    first = make_settings(tmp_path).resolved_database_url
    assert make_settings(tmp_path).resolved_database_url == first
    assert make_settings(tmp_path / "other").resolved_database_url != first
    assert make_url(first).get_backend_name() == ("postgresql" if ON_POSTGRES else "sqlite")


def test_a_tests_databases_are_fresh_and_dropped_at_its_end(
    postgres_admin: PostgresAdmin, tmp_path: Path
) -> None:
    databases = TestDatabases(postgres_admin)
    url = databases.url_for(tmp_path)
    name = make_url(url).database
    assert name in _database_names(postgres_admin)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:  # fresh: nothing in it yet
            tables = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
        assert tables == 0
    finally:
        engine.dispose()
    databases.drop_all()
    assert name not in _database_names(postgres_admin)


def test_the_suite_never_drops_a_database_it_did_not_make(postgres_admin: PostgresAdmin) -> None:
    with pytest.raises(ValueError, match="did not create"):
        postgres_admin.drop_database(postgres_admin.admin_url)
    assert make_url(postgres_admin.admin_url).database in _database_names(postgres_admin)


def test_a_private_server_starts_serves_and_leaves_nothing_behind() -> None:
    with private_postgres() as server:
        admin = PostgresAdmin(server.admin_url)
        url = admin.create_database()
        engine = create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        engine.dispose()
        admin.drop_database(url)
        admin.close()
        assert server.folder.exists()
    assert server.process.poll() is not None
    assert not server.folder.exists()

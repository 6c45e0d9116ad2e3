"""Every /api/v1 route refuses a request without a valid key (the route table is read
from the app's own OpenAPI document, so a new route is covered the day it is added),
and keys are stored only as their SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from service.app import create_app
from service.settings import Settings
from service.store.db import make_engine
from service.store.migrate import upgrade
from tests.api.conftest import Api
from tests.databases import ON_POSTGRES, PostgresAdmin
from tests.servers import serve_app

API_PREFIX = "/api/v1"
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")


def _api_routes() -> list[tuple[str, str]]:
    """(METHOD, path) of every /api/v1 operation, path parameters filled with a dummy.
    The route table does not depend on settings; any Settings builds the same one."""
    paths = create_app(Settings(data_dir=Path("unused"))).openapi()["paths"]
    return sorted(
        (method.upper(), _PATH_PARAMETER.sub("dummy", path))
        for path, operations in paths.items()
        if path.startswith(API_PREFIX)
        for method in operations
    )


ROUTES = _api_routes()


@pytest.fixture(scope="module")
def anonymous(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, request: pytest.FixtureRequest
) -> Iterator[httpx.Client]:
    """One API for the whole table (a server per route would cost ~1 s each), on this
    run's store: a SQLite file, or a PostgreSQL database of its own under the switch."""
    folder = tmp_path_factory.mktemp("every-route")
    admin: PostgresAdmin | None = request.getfixturevalue("postgres_admin") if ON_POSTGRES else None
    url = admin.create_database() if admin else f"sqlite:///{folder / 'lockgate.db'}"
    try:
        upgrade(url)
        settings = Settings(
            data_dir=folder / "data",
            database_url=url,
            redis_url=redis_url,
            queue_prefix=f"lgtest-routes-{folder.name}",
        )
        with serve_app(create_app(settings)) as base_url, httpx.Client(base_url=base_url) as client:
            yield client
    finally:
        if admin:
            admin.drop_database(url)


def test_the_route_table_holds_the_skeleton_routes() -> None:
    # An empty or wrongly read table would make the parametrized test below vacuous.
    assert {
        ("GET", "/api/v1/workflows"),
        ("POST", "/api/v1/workflows"),
        ("PUT", "/api/v1/workflows/dummy"),
        ("DELETE", "/api/v1/workflows/dummy"),
        ("GET", "/api/v1/runs/dummy"),
        ("POST", "/api/v1/keys"),
        ("GET", "/api/v1/hooks"),
    } <= set(ROUTES)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_every_api_route_needs_a_key(anonymous: httpx.Client, method: str, path: str) -> None:
    for headers, title in [
        ({}, "Authentication required"),
        ({"Authorization": "Bearer lg_not-a-key-anyone-was-given"}, "Invalid API key"),
    ]:
        response = anonymous.request(method, path, headers=headers, json={})
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["title"] == title


def test_a_key_is_stored_as_its_sha256_and_its_plaintext_nowhere(api: Api) -> None:
    created = api.client.post("/api/v1/keys", json={"name": "stored", "scopes": ["read"]})
    assert created.status_code == 201, created.text
    plaintext = created.json()["key"]
    assert len(plaintext) > 20
    # Read the table as SQL, not through the model, so every column is seen as stored.
    engine = make_engine(api.settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT * FROM api_keys WHERE name = :name"), {"name": "stored"}
            ).one()
    finally:
        engine.dispose()
    stored = row._asdict()
    assert stored["key_hash"] == hashlib.sha256(plaintext.encode()).hexdigest()
    assert [column for column, value in stored.items() if plaintext in str(value)] == []
    # The hash stands in for the key: the key works, the hash presented as a key does not.
    with httpx.Client(base_url=api.client.base_url) as client:
        assert (
            client.get("/api/v1/runs", headers={"Authorization": f"Bearer {plaintext}"}).status_code
            == 200
        )
        as_hash = client.get(
            "/api/v1/runs", headers={"Authorization": f"Bearer {stored['key_hash']}"}
        )
        assert as_hash.status_code == 401

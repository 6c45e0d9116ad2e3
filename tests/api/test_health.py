from __future__ import annotations

from pathlib import Path

import httpx

from service.app import create_app
from service.store.migrate import upgrade
from tests.api.conftest import Api
from tests.factories import make_settings
from tests.servers import free_port, serve_app


def test_healthz_needs_no_key(api: Api) -> None:
    assert api.anonymous.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_each_dependency(tmp_path: Path, redis_url: str) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path, redis_url=redis_url, databricks_host=nobody)
    upgrade(settings.resolved_database_url)
    with serve_app(create_app(settings)) as url:
        response = httpx.get(f"{url}/readyz")
    body = response.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["databricks"] == "failed: ConnectError"
    assert response.status_code == 503


def test_readyz_is_ready_when_everything_answers(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    with serve_app(create_app(make_settings(tmp_path, redis_url=redis_url))) as other:
        settings = make_settings(
            tmp_path / "api", redis_url=redis_url, queue_prefix=redis_prefix, databricks_host=other
        )
        upgrade(settings.resolved_database_url)
        with serve_app(create_app(settings)) as url:
            response = httpx.get(f"{url}/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "ok", "databricks": "ok"},
    }


def test_readyz_fails_when_redis_is_gone(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    upgrade(settings.resolved_database_url)
    with serve_app(create_app(settings)) as url:
        response = httpx.get(f"{url}/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("failed")

"""The local Databricks backend as an ASGI app, and a blocking server for it.

It serves the Jobs API under ``/api/2.2/jobs`` and ``/api/2.1/jobs`` (the same routers;
they differ where the versions do: ``_api_version``), the Workspace API
under ``/api/2.0/workspace`` (uploading notebooks and files), the Notification
Destinations API under ``/api/2.0/notification-destinations`` (runs post job webhook
notifications to them: ``_run_notifications``), and the
``/.well-known/databricks-config`` probe the databricks-sdk makes at start-up. Every
``/api/`` request needs an ``Authorization: Bearer <token>`` header (any token); every
error is Databricks error JSON ``{"error_code", "message"}``, never an HTML page.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ._api_version import ApiVersion
from ._backend import LocalBackend
from ._config import LocalBackendConfig
from ._destinations_api import router as destinations_router
from ._errors import ApiError, endpoint_not_found, invalid_parameter, unauthenticated
from ._jobs_api import router as jobs_router
from ._runs_api import router as runs_router
from ._workspace_api import router as workspace_router

logger = logging.getLogger(__name__)

API_VERSIONS = tuple(version.value for version in ApiVersion)  # the routers read it back


def create_local_backend(config: LocalBackendConfig) -> FastAPI:
    """Build the app; its state is in ``config.database_path``, its processes die with it."""
    backend = LocalBackend(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            backend.close()

    app = FastAPI(title="Lockgate local Databricks backend", lifespan=lifespan)
    app.state.local_backend = backend
    for version in API_VERSIONS:
        app.include_router(runs_router, prefix=f"/api/{version}/jobs/runs")
        app.include_router(jobs_router, prefix=f"/api/{version}/jobs")
    app.include_router(workspace_router, prefix="/api/2.0/workspace")
    app.include_router(destinations_router, prefix="/api/2.0/notification-destinations")

    @app.get("/.well-known/databricks-config", include_in_schema=False)
    def host_metadata() -> dict[str, str]:
        return {"workspace_id": str(config.workspace_id), "oidc_endpoint": ""}

    app.middleware("http")(_require_bearer_token)
    _install_error_handlers(app)
    return app


def serve_local_backend(config: LocalBackendConfig, *, host: str, port: int) -> None:
    """Serve until Ctrl-C or SIGTERM; shutting down kills every task process."""
    server = uvicorn.Server(
        uvicorn.Config(create_local_backend(config), host=host, port=port, log_config=None)
    )
    server.run()


async def _require_bearer_token(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    if request.url.path.startswith("/api/"):
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            error = unauthenticated(
                "Missing or malformed Authorization header: send 'Authorization: Bearer <token>'"
            )
            return _error_response(error)
    return await call_next(request)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors():
            location = ".".join(str(part) for part in error.get("loc", ())[1:]) or "request"
            problems.append(f"{location}: {error.get('msg', 'invalid value')}")
        return _error_response(invalid_parameter("; ".join(problems)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (404, 405):
            return _error_response(endpoint_not_found(request.method, request.url.path))
        return _error_response(ApiError(exc.status_code, "BAD_REQUEST", str(exc.detail)))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> Response:
        logger.exception("local backend failed on %s %s", request.method, request.url.path)
        return _error_response(ApiError(500, "INTERNAL_ERROR", f"internal error: {exc!r}"))


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(status_code=error.status_code, content=error.to_json())

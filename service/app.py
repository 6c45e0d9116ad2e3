"""create_app(settings) builds the API; nothing is created at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service.api.entra import EntraVerifier
from service.api.problems import install_problem_handlers
from service.api.routes import (
    alerts,
    channels,
    eventgrid,
    events,
    health,
    hooks,
    keys,
    metrics,
    runs,
    workflows,
)
from service.api.routes import triggers as trigger_sources
from service.runs.queue import CeleryTaskSender, TaskSender, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory


def create_app(settings: Settings, *, task_sender: TaskSender | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.resolved_database_url)
        app.state.settings = settings
        app.state.sessions = make_session_factory(engine)
        app.state.entra = EntraVerifier.from_settings(settings)
        celery = None
        if task_sender is None:
            celery = make_celery(settings, name="lockgate-api")
            app.state.task_sender = CeleryTaskSender(celery)
        else:
            app.state.task_sender = task_sender
        try:
            yield
        finally:
            # Made on first use by the webhook ingress; holds a Redis connection pool.
            limiter = getattr(app.state, "hook_rate_limiter", None)
            if limiter is not None:
                limiter.close()
            if celery is not None:
                celery.close()
            engine.dispose()

    app = FastAPI(title="Lockgate", version="0.1.0", lifespan=lifespan)
    install_problem_handlers(app)
    app.include_router(workflows.router)
    app.include_router(runs.router)
    app.include_router(keys.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(events.router)
    app.include_router(channels.router)
    app.include_router(alerts.router)
    app.include_router(hooks.admin)
    app.include_router(hooks.ingress)
    app.include_router(eventgrid.router)
    app.include_router(trigger_sources.router)

    return app

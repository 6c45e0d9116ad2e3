"""The Celery app, built from Settings (no module-level app, no current_app)."""

from __future__ import annotations

from functools import cache

from celery import Celery

from service.runs.hints import poll_interval
from service.runs.queue import (
    POLL_RUNS,
    SWEEP,
    WATCH_WORKSPACES,
    CeleryTaskSender,
    make_celery,
)
from service.settings import Settings, get_settings
from workers.context import WorkerContext
from workers.shutdown import shutdown_grace_step
from workers.tasks import alerts, runs, sweeper, workspace


def create_celery(settings: Settings) -> Celery:
    app = make_celery(settings, name="lockgate-worker")
    context = WorkerContext(settings, CeleryTaskSender(app))
    runs.register(app, context)
    alerts.register(app, context)
    sweeper.register(app, context)
    workspace.register(app, context)
    app.conf.beat_schedule = {
        "poll-runs": {"task": POLL_RUNS, "schedule": poll_interval(settings)},
        "sweep": {"task": SWEEP, "schedule": settings.sweep_interval_seconds},
        "watch-workspaces": {
            "task": WATCH_WORKSPACES,
            "schedule": settings.workspace_watch_interval_seconds,
        },
    }
    app.conf.beat_schedule_filename = str(settings.data_dir / "celerybeat-schedule")
    app.steps["worker"].add(shutdown_grace_step(settings.shutdown_grace_seconds))
    return app


@cache
def _app_from_environment() -> Celery:
    return create_celery(get_settings())


def __getattr__(name: str) -> Celery:
    """``celery -A workers.celery_app ...`` (Flower, inspect) asks this module for ``app``:
    it is built from the LOCKGATE_* environment on that first request, never at import."""
    if name in ("app", "celery"):
        return _app_from_environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

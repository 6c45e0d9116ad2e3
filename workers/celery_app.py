"""The Celery app, built from Settings (no module-level app, no current_app)."""

from __future__ import annotations

from celery import Celery

from service.runs.queue import POLL_RUNS, SWEEP, CeleryTaskSender, make_celery
from service.settings import Settings
from workers.context import WorkerContext
from workers.tasks import alerts, runs, sweeper


def create_celery(settings: Settings) -> Celery:
    app = make_celery(settings, name="lockgate-worker")
    context = WorkerContext(settings, CeleryTaskSender(app))
    runs.register(app, context)
    alerts.register(app, context)
    sweeper.register(app, context)
    app.conf.beat_schedule = {
        "poll-runs": {"task": POLL_RUNS, "schedule": settings.poll_interval_seconds},
        "sweep": {"task": SWEEP, "schedule": settings.sweep_interval_seconds},
    }
    app.conf.beat_schedule_filename = str(settings.data_dir / "celerybeat-schedule")
    return app

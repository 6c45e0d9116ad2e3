"""The workspace watcher's periodic pass, one workspace at a time under its own lock."""

from __future__ import annotations

import logging

from celery import Celery, Task

from service.runs.queue import WATCH_WORKSPACES, send_all
from service.workspace.handlers import ended_run_handlers
from service.workspace.job_directory import JobDirectory
from service.workspace.watcher import WatchLimits, watch_workspace
from workers.context import WorkerContext

log = logging.getLogger(__name__)


def register(app: Celery, ctx: WorkerContext) -> None:
    directories: dict[str, JobDirectory] = {}

    @app.task(name=WATCH_WORKSPACES, bind=True, acks_late=False, ignore_result=True)
    def watch(self: Task) -> None:
        settings = ctx.settings
        limits = WatchLimits(
            overlap_ms=int(settings.workspace_watch_overlap_seconds * 1000),
            max_pages=settings.workspace_watch_max_pages,
        )
        for workspace in settings.workspace_watch_profiles:
            # One watcher per workspace at a time: a second would only spend API budget.
            # The lock expires on its own if its holder dies mid-pass; the next pass
            # reads again from the checkpoint, and the ledger drops what was recorded.
            lock = ctx.redis.lock(
                ctx.key(f"watch-lock:{workspace}"),
                timeout=max(60.0, settings.workspace_watch_interval_seconds * 6),
                blocking=False,
            )
            if not lock.acquire():
                continue
            try:
                client = ctx.workspaces.get(workspace)
                jobs = directories.setdefault(
                    workspace,
                    JobDirectory(client, refresh_seconds=settings.workspace_jobs_refresh_seconds),
                )
                report = watch_workspace(
                    ctx.sessions,
                    client,
                    jobs,
                    workspace=workspace,
                    limits=limits,
                    handlers=ended_run_handlers(ctx.sessions, settings),
                )
            except Exception:
                log.exception("workspace %s: watch pass failed; the next pass retries", workspace)
                continue
            finally:
                try:
                    lock.release()
                except Exception:  # expired and maybe taken by another pass: not ours
                    log.warning("watch lock of %s expired before the pass ended", workspace)
            send_all(ctx.sender, report.messages)
            log.info(
                "workspace %s: %d endings recorded, %d listed, %d api calls",
                workspace,
                len(report.recorded),
                report.listed,
                report.api_calls,
            )

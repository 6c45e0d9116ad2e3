"""What is done with each run that ends in a watched workspace: the job-completion
triggers it satisfies, and the alerts of the channels that name its job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from service.alerts.job_runs import job_alert_routes, record_job_run_alerts, wants_job_run
from service.databricks import DatabricksClient, NotFound, RunInfo
from service.policies.alerting import Route
from service.runs.queue import DELIVER_ALERT, TaskMessage, dispatch_messages
from service.runs.task_errors import failed_task_errors
from service.settings import Settings
from service.store.models import utcnow
from service.triggers.job_completion import Completion, on_completion
from service.workspace.ended_runs import EndedRun
from service.workspace.watcher import EndedRunHandler


@dataclass(frozen=True)
class _FetchedRun:
    run: RunInfo | None
    task_errors: dict[str, str]


@dataclass
class JobRunAlerts:
    """Alerts for channels that name the run's job. The run and its failed tasks' errors
    are read only for endings a route could hear (most endings cost no call here)."""

    routes: tuple[Route, ...]
    settings: Settings

    def prepare(self, ended: EndedRun, client: DatabricksClient) -> _FetchedRun | None:
        if not wants_job_run(self.routes, ended):
            return None
        try:
            run = client.get_run(ended.run_id)
        except NotFound:
            return _FetchedRun(None, {})
        return _FetchedRun(run, failed_task_errors(client, run))

    def record(
        self, session: Session, ended: EndedRun, prepared: _FetchedRun | None
    ) -> list[TaskMessage]:
        if prepared is None:
            return []
        ids = record_job_run_alerts(
            session,
            ended=ended,
            run=prepared.run,
            task_errors=prepared.task_errors,
            settings=self.settings,
        )
        return [(DELIVER_ALERT, (delivery_id,)) for delivery_id in ids]


class JobCompletionTriggers:
    """The job-completion triggers whose job upstreams this ending matches (workflow
    upstreams are fed by the run engine when a Lockgate run ends, not from here)."""

    def prepare(self, ended: EndedRun, client: DatabricksClient) -> None:
        return None

    def record(self, session: Session, ended: EndedRun, prepared: None) -> list[TaskMessage]:
        if ended.job is None:
            return []
        now = utcnow()
        completion = Completion(
            run_id=str(ended.run_id),
            result_state=ended.result_state or ended.life_cycle_state,
            ended_at=ended.ended_at or now,
            job=ended.job,
            workspace=ended.workspace,
        )
        fired = on_completion(session, completion, now=now)
        return dispatch_messages([accepted.event_id for accepted in fired if accepted.created])


def ended_run_handlers(
    sessions: sessionmaker[Session], settings: Settings
) -> Sequence[EndedRunHandler]:
    """The handlers for one watcher pass (routes are read once a pass)."""
    with sessions() as session:
        routes = job_alert_routes(session)
    handlers: list[EndedRunHandler] = [JobCompletionTriggers(), JobRunAlerts(routes, settings)]
    return handlers

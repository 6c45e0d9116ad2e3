"""The polling sweep: one pass over every active run, within the API budget.

Databricks rate-limits its Jobs API per workspace, so states come from list pages
(``runs/list`` with ``expand_tasks``: 25 runs with their tasks a page), not from one
``runs/get`` per run.

Runs started within the listing window (``poll_window_seconds``) are read from one
listing of every run started since the oldest of them, active and ended alike: a page
shows an ending together with its result, so it is recorded as soon as its page is read,
and the listing's membership does not change while runs end, so no run slips between
pages. That listing costs one page per 25 runs the workspace started since then,
whatever their state; the window bounds it. Runs older than the window (long-running
ones) are read from the active-only listing of runs started before it, and those that
left it are looked up in the completed-only listing of their start times; only a
complete active listing proves a run left it. ``runs/get`` is the fallback for runs no
page showed, and ``get-output`` is called only for failed tasks, to say what went wrong.

Each workspace profile is swept on its own (a run is listed by the workspace it runs
in). Unchanged runs cost no write; changed ones are written a page at a time; each
ending gets its own transaction, where the retry policy and alerts run
(`ending.conclude_attempt`). Deadlines and cancels are enforced after the pass
(`control.enforce_deadlines`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from service.alerts import duration_limit
from service.databricks import DatabricksClient, NotFound, RunInfo
from service.policies.alerting import duration_exceeded
from service.runs.control import enforce_deadlines
from service.runs.ending import conclude_attempt
from service.runs.finishing import emit_run_event
from service.runs.options import EngineOptions
from service.runs.recording import apply_run_info, state_value
from service.runs.run_listing import RunListing
from service.runs.states import is_terminal
from service.runs.task_errors import failed_task_errors
from service.runs.workspaces import WorkspaceClients
from service.settings import Settings, get_settings
from service.store.models import Run, RunStatus, utcnow
from service.store.repositories import runs as runs_repo
from service.store.repositories.runs import workflow_sources

if TYPE_CHECKING:
    from service.triggers.ledger import AcceptedTrigger

log = logging.getLogger(__name__)

# Known start times are Lockgate's clock (the submission), Databricks lists by its own:
# read a little wider than the known start times.
_START_SLACK = timedelta(minutes=2)
_MAX_RUNS_GET_PER_SWEEP = 25


@dataclass
class PollReport:
    watched: int = 0
    updated: int = 0
    api_calls: int = 0
    ended_run_ids: list[str] = field(default_factory=list)
    alert_delivery_ids: list[str] = field(default_factory=list)
    submit_run_ids: list[str] = field(default_factory=list)
    cancel_calls: int = 0
    fired_triggers: list[AcceptedTrigger] = field(default_factory=list)  # announce them


@dataclass(frozen=True)
class _Watched:
    run_id: str
    known_start: datetime | None


def poll_active_runs(
    sessions: sessionmaker[Session],
    clients: WorkspaceClients | DatabricksClient,
    *,
    max_pages: int,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> PollReport:
    settings = settings or get_settings()
    if isinstance(clients, DatabricksClient):
        clients = WorkspaceClients.single(clients)
    report = PollReport()
    by_workspace: dict[str, dict[int, _Watched]] = defaultdict(dict)
    with sessions() as session:
        for run_id, databricks_run_id, submitted_at, started_at, workspace in _watched(session):
            by_workspace[workspace][databricks_run_id] = _Watched(
                run_id, started_at or submitted_at
            )
    for workspace, watched in by_workspace.items():
        report.watched += len(watched)
        _sweep_workspace(sessions, clients.get(workspace), watched, report, max_pages, settings)
    report.cancel_calls = enforce_deadlines(sessions, clients, now=now or utcnow())
    log.info(
        "poll sweep: %d watched, %d updated, %d ended, %d api calls",
        report.watched,
        report.updated,
        len(report.ended_run_ids),
        report.api_calls,
    )
    return report


def record_hinted_run(
    sessions: sessionmaker[Session],
    clients: WorkspaceClients,
    *,
    workspace: str,
    databricks_run_id: int,
    settings: Settings,
) -> PollReport:
    """A notification said this run changed: one ``runs/get`` confirms what it is now,
    recorded as a sweep would. A run Lockgate does not watch costs no call."""
    report = PollReport()
    with sessions() as session:
        rows = runs_repo.watched_runs(
            session, workspace=workspace, databricks_run_id=databricks_run_id
        )
    if not rows:
        return report
    run_id, _, submitted_at, started_at, _ = rows[0]
    client = clients.get(workspace)
    watched = {databricks_run_id: _Watched(run_id, started_at or submitted_at)}
    report.watched = report.api_calls = 1
    try:
        info = client.get_run(databricks_run_id)
    except NotFound:
        return report
    _Recorder(sessions, client, watched, report, settings).record({databricks_run_id: info})
    return report


def _watched(session: Session) -> list[tuple[str, int, datetime | None, datetime | None, str]]:
    return runs_repo.watched_runs(session)


def _sweep_workspace(
    sessions: sessionmaker[Session],
    client: DatabricksClient,
    watched: dict[int, _Watched],
    report: PollReport,
    max_pages: int,
    settings: Settings,
) -> None:
    recorder = _Recorder(sessions, client, watched, report, settings)
    cutoff = utcnow() - timedelta(seconds=settings.poll_window_seconds)
    recent = {d for d, w in watched.items() if w.known_start is None or w.known_start >= cutoff}
    window = _sweep_window(recorder, client, recent, max_pages) if recent else _Window()
    older = set(watched) - recent
    if window.unreached:
        # A listing cut at max_pages: what it did not reach goes the older runs' way, so
        # the oldest of a long window are not starved sweep after sweep.
        older |= window.unreached
        cutoff = max(cutoff, window.reached or cutoff)
    unseen = window.unseen
    if older:
        unseen |= _sweep_older(recorder, client, older, cutoff, max_pages)
    fallback: dict[int, RunInfo] = {}
    for databricks_run_id in sorted(unseen)[:_MAX_RUNS_GET_PER_SWEEP]:
        report.api_calls += 1
        try:
            fallback[databricks_run_id] = client.get_run(databricks_run_id)
        except NotFound:
            log.warning(
                "Databricks no longer knows run %s",
                databricks_run_id,
                extra={"run_id": watched[databricks_run_id].run_id},
            )
    recorder.record(fallback)


@dataclass
class _Window:
    unseen: set[int] = field(default_factory=set)  # not listed: the listing was complete
    unreached: set[int] = field(default_factory=set)  # not listed: it was cut short
    reached: datetime | None = None


def _sweep_window(
    recorder: _Recorder, client: DatabricksClient, recent: set[int], max_pages: int
) -> _Window:
    """Every run started since the oldest recent one, a page recorded as it is read."""
    starts = [recorder.watched[d].known_start for d in recent]
    earliest = min((s for s in starts if s is not None), default=utcnow())
    listing = RunListing(client, max_pages, start_time_from=_ms(earliest - _START_SLACK))
    seen: set[int] = set()
    for page in listing:
        batch = {info.run_id: info for info in page if info.run_id in recent}
        seen.update(batch)
        recorder.record(batch)
    recorder.report.api_calls += listing.requests
    if listing.complete:
        return _Window(unseen=recent - seen)
    reached = listing.oldest_start_ms
    return _Window(
        unreached=recent - seen,
        reached=datetime.fromtimestamp(reached / 1000, tz=UTC) if reached else None,
    )


def _sweep_older(
    recorder: _Recorder,
    client: DatabricksClient,
    older: set[int],
    cutoff: datetime,
    max_pages: int,
) -> set[int]:
    """Runs started before the window: the active listing of those start times, then
    the completed listing for the ones that left it; returns the ones neither showed."""
    before = _ms(cutoff + _START_SLACK)
    found: dict[int, RunInfo] = {}
    active = RunListing(client, max_pages, active_only=True, start_time_to=before)
    for page in active:
        found.update((info.run_id, info) for info in page if info.run_id in older)
    recorder.report.api_calls += active.requests
    missing = older - set(found) if active.complete else set()
    clusters = _start_clusters({d: recorder.watched[d].known_start or cutoff for d in missing})
    # Scattered endings cost a listing each, like runs/get: the rest wait a sweep.
    del clusters[_MAX_RUNS_GET_PER_SWEEP:]
    looked_up: set[int] = set()
    for cluster in clusters:
        # Only the start times of the runs that left: a narrow listing each, not every
        # run that ended since the oldest of them.
        completed = RunListing(
            client,
            max_pages,
            completed_only=True,
            start_time_from=_ms(cluster[0][1] - _START_SLACK),
            start_time_to=_ms(cluster[-1][1] + _START_SLACK),
        )
        wanted = {d for d, _ in cluster}
        looked_up |= wanted
        for page in completed:
            found.update((info.run_id, info) for info in page if info.run_id in wanted)
            if wanted <= set(found):
                break
        recorder.report.api_calls += completed.requests
    recorder.record(found)
    return looked_up - set(found)


def _start_clusters(starts: dict[int, datetime]) -> list[list[tuple[int, datetime]]]:
    """Runs by start time, in groups whose slack-widened windows overlap."""
    clusters: list[list[tuple[int, datetime]]] = []
    for item in sorted(starts.items(), key=lambda kv: kv[1]):
        if clusters and item[1] - clusters[-1][-1][1] <= 2 * _START_SLACK:
            clusters[-1].append(item)
        else:
            clusters.append([item])
    return clusters


@dataclass
class _Recorder:
    """Writes a batch of run states: the ongoing ones in one transaction, each ending in
    its own (where the retry policy and alerts run)."""

    sessions: sessionmaker[Session]
    client: DatabricksClient
    watched: dict[int, _Watched]
    report: PollReport
    settings: Settings
    options_cache: dict[str, EngineOptions | None] = field(default_factory=dict)
    ended: set[int] = field(default_factory=set)  # a run may show on two pages

    def record(self, batch: Mapping[int, RunInfo]) -> None:
        ongoing = {
            d: info
            for d, info in batch.items()
            if not is_terminal(state_value(info.life_cycle_state))
        }
        if ongoing:
            self._record_ongoing(ongoing)
        for databricks_run_id, info in batch.items():
            if databricks_run_id not in ongoing and databricks_run_id not in self.ended:
                self.ended.add(databricks_run_id)
                self._record_ending(databricks_run_id, info)

    def _record_ongoing(self, ongoing: Mapping[int, RunInfo]) -> None:
        with self.sessions.begin() as session:
            runs = runs_repo.runs_by_ids(
                session, run_ids=[self.watched[d].run_id for d in ongoing], with_tasks=True
            )
            by_id = {run.id: run for run in runs}
            sources = workflow_sources(session, workflow_ids={r.workflow_id for r in runs})
            now = utcnow()
            for databricks_run_id, info in ongoing.items():
                run = by_id.get(self.watched[databricks_run_id].run_id)
                if run is None or run.status not in RunStatus.ACTIVE:
                    continue
                was_running = run.status == RunStatus.RUNNING
                if apply_run_info(run, info, {}):
                    self.report.updated += 1
                if run.status == RunStatus.RUNNING and not was_running:
                    # First seen running, this attempt: announce it. Only on the change,
                    # so a sweep over 2,000 running runs costs no emit; emitting is
                    # idempotent per attempt, so a start seen twice is told once.
                    self.report.alert_delivery_ids += emit_run_event(
                        session, run=run, event_type="run.started", settings=self.settings, now=now
                    )
                self.report.alert_delivery_ids += _duration_warning(
                    session, run, sources.get(run.workflow_id), now, self.settings
                )

    def _record_ending(self, databricks_run_id: int, info: RunInfo) -> None:
        errors = failed_task_errors(self.client, info)
        self.report.api_calls += len(errors)
        with self.sessions.begin() as session:
            run = runs_repo.get_run(
                session, run_id=self.watched[databricks_run_id].run_id, with_tasks=True
            )
            if run is None or run.status not in RunStatus.ACTIVE:
                return
            apply_run_info(run, info, errors)
            self.report.updated += 1
            session.flush()
            concluded = conclude_attempt(
                session,
                run=run,
                termination_code=info.termination_code,
                settings=self.settings,
                now=utcnow(),
                options_cache=self.options_cache,
            )
            if not concluded.retrying:
                self.report.ended_run_ids.append(run.id)
            self.report.alert_delivery_ids += concluded.alert_delivery_ids
            self.report.submit_run_ids += concluded.submit_run_ids
            self.report.fired_triggers += concluded.fired_triggers


def _duration_warning(
    session: Session,
    run: Run,
    source: Mapping[str, Any] | None,
    now: datetime,
    settings: Settings,
) -> list[str]:
    """A run past its health rule (RUN_DURATION_SECONDS) warns its subscribers while it
    is still running; emitting is idempotent per attempt, so every sweep may ask."""
    limit = duration_limit(source) if source is not None else None
    elapsed = duration_exceeded(started_at=run.started_at, limit_seconds=limit, now=now)
    if elapsed is None:
        return []
    return emit_run_event(
        session,
        run=run,
        event_type="run.duration_warning",
        detail={"limit_seconds": limit, "elapsed_seconds": round(elapsed)},
        settings=settings,
    )


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)

"""The workspace watcher: one pass learns of every run that ended in a workspace since
the last pass, Lockgate's and everyone else's, and records each ending once.

Why it reads what it reads:

- Endings come from ``runs/list?completed_only=true`` pages of runs started since the
  checkpoint (25 runs a page, newest first), not from a call per run. ``seen`` (run id ->
  end time) keeps an ending listed again from being recorded again; a run listed with a
  new end time was repaired and ended again, a new ending (its repair id from one
  ``runs/get``).
- The checkpoint trails the clock by ``overlap`` (clock skew between Lockgate and the
  workspace, and runs whose start is written late), so each run is listed for a while
  after it starts. A run still active when the checkpoint passes its start time would
  never be listed again: the listing of every run started in the slice the checkpoint
  moves past (whatever its state, so its membership does not change while runs end)
  names those; they are kept in ``long_running``, and each is looked up with one
  ``runs/get`` once a complete active listing of older runs no longer shows it. A
  repaired old run shows in that active listing again and is kept the same way.
- The listings are read before the completed one: a run that ends between them
  is in the completed listing (started since the checkpoint) or already kept as long
  running; one that starts after both is listed next pass (its start is after this
  pass's checkpoint).
- Each ending is recorded in its own transaction: its ledger event (source
  ``databricks``, dedupe key run id + repair id) and whatever the handlers make of it
  (job-completion triggers, alerts). The checkpoint is written at the end of the pass;
  a pass cut short by a crash is read again and the ledger's unique key turns the
  repeats into no-ops, so nothing is missed and nothing is reported twice.
- The first pass in a workspace records nothing: it takes the endings it lists as seen,
  so starting Lockgate does not replay the workspace's recent history.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session, sessionmaker

from service.databricks import DatabricksClient, NotFound, RunInfo
from service.runs.queue import TaskMessage
from service.store.models import utcnow
from service.store.models.workspace import WorkspaceWatch
from service.store.repositories import workspace_watches as watches_repo
from service.workspace.ended_runs import EndedRun
from service.workspace.job_directory import JobDirectory

log = logging.getLogger(__name__)

_PAGE_SIZE = 25
_TERMINAL = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})


class EndedRunHandler(Protocol):
    """What is done with each ending. ``prepare`` runs before the ending's transaction
    (Databricks calls belong there, not inside a transaction); ``record`` runs inside it
    and returns the messages to send once it has committed."""

    def prepare(self, ended: EndedRun, client: DatabricksClient) -> Any: ...

    def record(self, session: Session, ended: EndedRun, prepared: Any) -> list[TaskMessage]: ...


@dataclass(frozen=True)
class WatchLimits:
    overlap_ms: int
    max_pages: int


@dataclass
class WatchReport:
    workspace: str
    recorded: list[EndedRun] = field(default_factory=list)
    listed: int = 0
    api_calls: int = 0
    complete: bool = True
    messages: list[TaskMessage] = field(default_factory=list)


def watch_workspace(
    sessions: sessionmaker[Session],
    client: DatabricksClient,
    jobs: JobDirectory,
    *,
    workspace: str,
    limits: WatchLimits,
    handlers: Sequence[EndedRunHandler] = (),
    now_ms: int | None = None,
) -> WatchReport:
    """One pass over one workspace. Call under the workspace's watch lock (one replica
    at a time); the messages in the report are to be sent by the caller."""
    now_ms = now_ms if now_ms is not None else _ms(utcnow())
    report = WatchReport(workspace)
    with sessions() as session:
        watch = watches_repo.get_watch(session, workspace)
        first_pass = watch is None
        checkpoint = watch.checkpoint_ms if watch else now_ms - limits.overlap_ms
        seen = {int(k): int(v) for k, v in (watch.seen if watch else {}).items()}
        long_running = {int(k): int(v) for k, v in (watch.long_running if watch else {}).items()}

    moved_checkpoint = max(checkpoint, now_ms - limits.overlap_ms)
    # The runs the checkpoint moves past now: every run started in [checkpoint, moved),
    # whatever its state. Its membership does not change as runs end, so no run slips
    # between its pages; read before the completed listing, so a run that ends in between
    # is in that one.
    passing, passing_complete = (
        _list(client, report, limits, start_from=checkpoint, start_to=moved_checkpoint - 1)
        if moved_checkpoint > checkpoint
        else ([], True)
    )
    # Runs started before the checkpoint that are still going: the long-running ones, and
    # old runs active again (a repair). A run missing from a page of this listing (runs
    # end while it is read) is looked up, never dropped.
    active_runs, active_complete = _list(
        client, report, limits, active_only=True, start_to=checkpoint - 1
    )
    for info in active_runs:
        long_running.setdefault(info.run_id, info.start_time_ms or 0)
    endings: list[RunInfo] = []
    listing, complete = _list(client, report, limits, completed_only=True, start_from=checkpoint)
    report.complete = complete and active_complete and passing_complete
    for info in listing:
        if seen.get(info.run_id) == (info.end_time_ms or 0):
            continue
        if info.run_id in seen:  # ended again: a repair
            info = _with_history(client, report, info)
        endings.append(info)
        seen[info.run_id] = info.end_time_ms or 0
    if active_complete:
        for run_id in sorted(set(long_running) - {info.run_id for info in active_runs}):
            found = _get(client, report, run_id)
            if found is None or found.life_cycle_state.value in _TERMINAL:
                del long_running[run_id]
                if found is not None:
                    endings.append(found)

    if not first_pass:
        handler = _Recorder(sessions, client, jobs, workspace, handlers, report)
        for chunk in _chunks(sorted(endings, key=lambda i: (i.end_time_ms or 0, i.run_id)), 25):
            handler.record(chunk)

    new_checkpoint = moved_checkpoint if complete and passing_complete else checkpoint
    if new_checkpoint > checkpoint:
        ended_now = {info.run_id for info in listing}
        for info in passing:
            if info.life_cycle_state.value not in _TERMINAL and info.run_id not in ended_now:
                long_running[info.run_id] = info.start_time_ms or 0
    if complete:  # what a cut listing did not reach stays seen
        recent = _started_since(listing, new_checkpoint)
        seen = {run_id: end for run_id, end in seen.items() if run_id in recent}
    with sessions.begin() as session:
        watch = watches_repo.get_watch(session, workspace)
        if watch is None:
            watch = WorkspaceWatch(workspace=workspace, checkpoint_ms=new_checkpoint)
            session.add(watch)
        watch.checkpoint_ms = new_checkpoint
        watch.seen = {str(k): v for k, v in seen.items()}
        watch.long_running = {str(k): v for k, v in long_running.items()}
        watch.last_pass_at = watch.updated_at = utcnow()
    report.api_calls += jobs.requests
    jobs.requests = 0
    return report


class _Recorder:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        client: DatabricksClient,
        jobs: JobDirectory,
        workspace: str,
        handlers: Sequence[EndedRunHandler],
        report: WatchReport,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.jobs = jobs
        self.workspace = workspace
        self.handlers = handlers
        self.report = report

    def record(self, infos: Sequence[RunInfo]) -> None:
        with self.sessions() as session:
            lockgate_runs = watches_repo.lockgate_runs_of(session, (i.run_id for i in infos))
        for info in infos:
            ended = ended_run(
                info,
                workspace=self.workspace,
                job=self.jobs.job(info.job_id),
                lockgate_run_id=lockgate_runs.get(info.run_id),
            )
            prepared = [handler.prepare(ended, self.client) for handler in self.handlers]
            with self.sessions.begin() as session:
                _, created = watches_repo.record_observed_event(
                    session,
                    workspace=self.workspace,
                    dedupe_key=ended.dedupe_key,
                    payload=observed_payload(ended),
                )
                if not created:
                    continue
                messages: list[TaskMessage] = []
                for handler, ready in zip(self.handlers, prepared, strict=True):
                    messages += handler.record(session, ended, ready)
            self.report.recorded.append(ended)
            self.report.messages += messages


def ended_run(info: RunInfo, *, workspace: str, job: Any, lockgate_run_id: str | None) -> EndedRun:
    return EndedRun(
        workspace=workspace,
        run_id=info.run_id,
        repair_id=_latest_repair_id(info.raw),
        run_name=info.run_name,
        job=job,
        life_cycle_state=info.life_cycle_state.value,
        result_state=info.result_state.value if info.result_state else None,
        termination_code=info.termination_code,
        state_message=info.state_message,
        started_at=_time(info.start_time_ms),
        ended_at=_time(info.end_time_ms),
        run_page_url=info.run_page_url,
        lockgate_run_id=lockgate_run_id,
    )


def observed_payload(ended: EndedRun) -> dict[str, Any]:
    return {
        "workspace": ended.workspace,
        "run_id": ended.run_id,
        "repair_id": ended.repair_id,
        "run_name": ended.run_name,
        "job_id": ended.job.job_id if ended.job else None,
        "job_name": ended.job.name if ended.job else None,
        "job_tags": dict(ended.job.tags) if ended.job else {},
        "life_cycle_state": ended.life_cycle_state,
        "result_state": ended.result_state,
        "termination_code": ended.termination_code,
        "state_message": (ended.state_message or "")[:2_000],
        "started_at": ended.started_at.isoformat() if ended.started_at else None,
        "ended_at": ended.ended_at.isoformat() if ended.ended_at else None,
        "run_page_url": ended.run_page_url,
        "lockgate_run_id": ended.lockgate_run_id,
    }


def _list(
    client: DatabricksClient,
    report: WatchReport,
    limits: WatchLimits,
    *,
    active_only: bool = False,
    completed_only: bool = False,
    start_from: int | None = None,
    start_to: int | None = None,
) -> tuple[list[RunInfo], bool]:
    """Every run of one listing, and whether the listing was read to its end."""
    runs: list[RunInfo] = []
    page_token: str | None = None
    complete = False
    for _ in range(limits.max_pages):
        page = client.list_runs(
            active_only=active_only,
            completed_only=completed_only,
            expand_tasks=False,
            limit=_PAGE_SIZE,
            page_token=page_token,
            start_time_from=start_from,
            start_time_to=start_to,
        )
        report.api_calls += 1
        runs += page.runs
        if not page.next_page_token:
            complete = True
            break
        page_token = page.next_page_token
    if not complete:
        log.warning(
            "workspace %s: %s listing cut at %d pages",
            report.workspace,
            "active" if active_only else "completed" if completed_only else "all-runs",
            limits.max_pages,
        )
    report.listed += len(runs)
    return runs, complete


def _with_history(client: DatabricksClient, report: WatchReport, info: RunInfo) -> RunInfo:
    return _get(client, report, info.run_id) or info


def _get(client: DatabricksClient, report: WatchReport, run_id: int) -> RunInfo | None:
    report.api_calls += 1
    try:
        return client.get_run(run_id)
    except NotFound:
        return None


def _latest_repair_id(raw: Mapping[str, Any]) -> int | None:
    history = raw.get("repair_history")
    ids = [
        entry.get("id")
        for entry in history or []
        if isinstance(entry, Mapping) and entry.get("type") == "REPAIR"
    ]
    numbers = [int(i) for i in ids if isinstance(i, int | str) and str(i).isdigit()]
    return max(numbers) if numbers else None


def _started_since(listing: Sequence[RunInfo], checkpoint: int) -> set[int]:
    return {info.run_id for info in listing if (info.start_time_ms or 0) >= checkpoint}


def _chunks(items: Sequence[RunInfo], size: int) -> Iterator[Sequence[RunInfo]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _time(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, tz=UTC) if ms else None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)

"""What the workspace watcher hands on: a run that ended, and the job it belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

# Databricks' job-completion trigger counts SUCCESS_WITH_FAILURES as a success.
SUCCESS_RESULTS = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})


@dataclass(frozen=True)
class JobInfo:
    """A job as the workspace describes it (``jobs/list``): what selectors match on."""

    job_id: int
    name: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndedRun:
    """One ending of one Databricks run: the original run, or a repair of it
    (``repair_id``). ``job`` is None for a one-time run (``runs/submit``) or a job
    deleted since; ``lockgate_run_id`` names the Lockgate run it is an attempt of."""

    workspace: str
    run_id: int
    repair_id: int | None
    run_name: str | None
    job: JobInfo | None
    life_cycle_state: str
    result_state: str | None
    termination_code: str | None
    state_message: str
    started_at: datetime | None
    ended_at: datetime | None
    run_page_url: str | None
    lockgate_run_id: str | None = None

    @property
    def dedupe_key(self) -> str:
        return f"{self.run_id}:{self.repair_id or 0}"

    @property
    def succeeded(self) -> bool:
        return (self.result_state or "") in SUCCESS_RESULTS

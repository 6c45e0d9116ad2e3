"""Which jobs a workspace has, by id, with their names and tags: what job selectors
(by id, name or tag) are resolved against.

Read with ``jobs/list`` (100 jobs a page) at most once per ``refresh_seconds``; a job id
not known since the last read (a job made since) costs one ``jobs/get``, remembered
(None for a job deleted since), so a busy workspace's new jobs cost no full re-read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from service.databricks import DatabricksClient, NotFound
from service.workspace.ended_runs import JobInfo

_PAGE_SIZE = 100


def job_info(job: Mapping[str, Any]) -> JobInfo | None:
    """A ``jobs/list`` or ``jobs/get`` entry as a JobInfo (None if it names no job)."""
    job_id = job.get("job_id")
    if not isinstance(job_id, int):
        try:
            job_id = int(str(job_id))
        except ValueError:
            return None
    settings = _mapping(job.get("settings"))
    tags = _mapping(settings.get("tags"))
    return JobInfo(
        job_id=job_id,
        name=str(settings.get("name") or ""),
        tags={str(k): str(v) for k, v in tags.items()},
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@dataclass
class JobDirectory:
    client: DatabricksClient
    refresh_seconds: float = 60.0
    clock: Callable[[], float] = time.monotonic
    requests: int = 0
    _jobs: dict[int, JobInfo | None] = field(default_factory=dict)
    _read_at: float | None = None

    def job(self, job_id: int | None) -> JobInfo | None:
        if job_id is None:
            return None
        self._refresh_if_due()
        if job_id not in self._jobs:
            self._jobs[job_id] = self._get(job_id)
        return self._jobs[job_id]

    def all_jobs(self) -> list[JobInfo]:
        self._refresh_if_due()
        return [job for job in self._jobs.values() if job is not None]

    def _refresh_if_due(self) -> None:
        now = self.clock()
        if self._read_at is not None and now - self._read_at < self.refresh_seconds:
            return
        jobs: dict[int, JobInfo | None] = {}
        page_token: str | None = None
        while True:
            page = self.client.list_jobs(limit=_PAGE_SIZE, page_token=page_token)
            self.requests += 1
            for entry in page.jobs:
                info = job_info(entry)
                if info is not None:
                    jobs[info.job_id] = info
            if not page.next_page_token:
                break
            page_token = page.next_page_token
        self._jobs, self._read_at = jobs, now

    def _get(self, job_id: int) -> JobInfo | None:
        self.requests += 1
        try:
            return job_info(self.client.get_job(job_id) | {"job_id": job_id})
        except NotFound:
            return None

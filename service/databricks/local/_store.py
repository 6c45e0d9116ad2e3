"""The local backend's state: jobs, runs, task runs and idempotency tokens, in memory.

Nothing survives a restart of the backend. Ids are seeded from the clock so that a
restarted backend never hands out a run id an earlier process already used (a client
that kept an old run id gets "does not exist", not somebody else's run).

Thread safety: one re-entrant lock, ``RunStore.lock``, guards the store *and every
record in it*. Request handlers, the scheduler's worker threads and its timer thread
all take it for each read or write, and never hold it while waiting on a process.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from ._errors import job_does_not_exist, run_does_not_exist
from ._paging import decode_page_token, encode_page_token
from ._records import JobRecord, RunRecord, TaskRunRecord
from ._states import ACTIVE_LIFE_CYCLE_STATES, LifeCycleState, RunType


@dataclass(frozen=True)
class RunFilter:
    job_id: int | None = None
    active_only: bool = False
    completed_only: bool = False
    run_type: RunType | None = None
    start_time_from: int | None = None
    start_time_to: int | None = None

    def matches(self, run: RunRecord) -> bool:
        if self.job_id is not None and run.job_id != self.job_id:
            return False
        if self.active_only and run.life_cycle_state not in ACTIVE_LIFE_CYCLE_STATES:
            return False
        if self.completed_only and not run.is_terminal:
            return False
        if self.run_type is not None and run.run_type is not self.run_type:
            return False
        if self.start_time_from is not None and run.start_time < self.start_time_from:
            return False
        return self.start_time_to is None or run.start_time <= self.start_time_to


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None


class RunStore:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        seed = int(time.time() * 1000)
        self._next_job_id = seed
        self._next_run_id = seed * 1000
        self._jobs: dict[int, JobRecord] = {}
        self._runs: dict[int, RunRecord] = {}
        self._task_runs: dict[int, TaskRunRecord] = {}
        self._run_ids: list[int] = []  # ascending = creation order
        self._run_ids_by_job: dict[int, list[int]] = {}
        self._unfinished_run_ids: set[int] = set()
        self._queued_by_job: dict[int, deque[int]] = {}
        self._run_id_by_token: dict[str, int] = {}

    # -- ids ---------------------------------------------------------------------------

    def new_job_id(self) -> int:
        with self.lock:
            self._next_job_id += 1
            return self._next_job_id

    def new_run_id(self) -> int:
        with self.lock:
            self._next_run_id += 1
            return self._next_run_id

    # -- jobs --------------------------------------------------------------------------

    def add_job(self, job: JobRecord) -> None:
        with self.lock:
            self._jobs[job.job_id] = job

    def get_job(self, job_id: int) -> JobRecord:
        with self.lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise job_does_not_exist(job_id)
            return job

    def remove_job(self, job_id: int) -> JobRecord:
        with self.lock:
            job = self.get_job(job_id)
            del self._jobs[job_id]
            return job

    def list_jobs(self, *, limit: int, page_token: str | None, name: str | None) -> Page[JobRecord]:
        after = decode_page_token(page_token, "job")
        with self.lock:
            jobs = sorted(self._jobs.values(), key=lambda job: job.job_id)
            if name is not None:
                jobs = [job for job in jobs if job.spec.name.casefold() == name.casefold()]
            if after is not None:
                jobs = [job for job in jobs if job.job_id > after]
            page = jobs[:limit]
            token = encode_page_token("job", page[-1].job_id) if len(jobs) > limit else None
            return Page(page, token)

    # -- runs --------------------------------------------------------------------------

    def add_run(self, run: RunRecord) -> None:
        with self.lock:
            self._runs[run.run_id] = run
            self._run_ids.append(run.run_id)
            if run.job_id is not None:
                self._run_ids_by_job.setdefault(run.job_id, []).append(run.run_id)
            self._unfinished_run_ids.add(run.run_id)
            if run.idempotency_token is not None:
                self._run_id_by_token[run.idempotency_token] = run.run_id

    def add_task_run(self, attempt: TaskRunRecord) -> None:
        with self.lock:
            self._task_runs[attempt.run_id] = attempt

    def run_for_token(self, token: str) -> RunRecord | None:
        """The run an idempotency token already made; tokens outlive deleted jobs."""
        with self.lock:
            run_id = self._run_id_by_token.get(token)
            return None if run_id is None else self._runs.get(run_id)

    def get_run(self, run_id: int) -> RunRecord:
        with self.lock:
            run = self._runs.get(run_id)
            if run is None:
                raise run_does_not_exist(run_id)
            return run

    def find_run(self, run_id: int) -> RunRecord | TaskRunRecord:
        """A job/submit run or a single task run (both share one id space)."""
        with self.lock:
            found = self._runs.get(run_id) or self._task_runs.get(run_id)
            if found is None:
                raise run_does_not_exist(run_id)
            return found

    def mark_finished(self, run: RunRecord) -> None:
        with self.lock:
            self._unfinished_run_ids.discard(run.run_id)

    def unfinished_runs(self) -> list[RunRecord]:
        with self.lock:
            return [self._runs[run_id] for run_id in sorted(self._unfinished_run_ids)]

    def running_runs_of_job(self, job_id: int, *, other_than: int) -> int:
        """Runs of the job that hold a concurrency slot (started, not finished)."""
        with self.lock:
            return sum(
                1
                for run_id in self._unfinished_run_ids
                if run_id != other_than
                and (run := self._runs[run_id]).job_id == job_id
                and run.life_cycle_state is not LifeCycleState.QUEUED
            )

    def enqueue(self, run: RunRecord) -> None:
        assert run.job_id is not None
        with self.lock:
            self._queued_by_job.setdefault(run.job_id, deque()).append(run.run_id)

    def dequeue(self, job_id: int) -> RunRecord | None:
        """The oldest queued run of the job that is still waiting, if any."""
        with self.lock:
            queue = self._queued_by_job.get(job_id)
            while queue:
                run = self._runs[queue.popleft()]
                if run.life_cycle_state is LifeCycleState.QUEUED and not run.is_stopping:
                    return run
            return None

    def list_runs(
        self, run_filter: RunFilter, *, limit: int, page_token: str | None
    ) -> Page[RunRecord]:
        """Newest first; the page token is the last run id served (keyset paging)."""
        before = decode_page_token(page_token, "run")
        with self.lock:
            matches = []
            for run_id in self._candidate_ids_newest_first(run_filter, before):
                run = self._runs[run_id]
                if run_filter.matches(run):
                    matches.append(run)
                    if len(matches) > limit:
                        break
            page = matches[:limit]
            token = encode_page_token("run", page[-1].run_id) if len(matches) > limit else None
            return Page(page, token)

    def _candidate_ids_newest_first(
        self, run_filter: RunFilter, before: int | None
    ) -> Iterator[int]:
        # Active runs are few next to the history, so active_only reads only them.
        if run_filter.active_only:
            ids: Iterable[int] = sorted(self._unfinished_run_ids, reverse=True)
            return (run_id for run_id in ids if before is None or run_id < before)
        source = (
            self._run_ids
            if run_filter.job_id is None
            else self._run_ids_by_job.get(run_filter.job_id, [])
        )
        end = len(source) if before is None else bisect.bisect_left(source, before)
        return (source[index] for index in range(end - 1, -1, -1))

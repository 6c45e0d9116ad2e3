"""The local backend's state: jobs, runs, task runs and idempotency tokens.

Records live in memory and are written through to the backend's SQLite file
(``_persistence``): whoever changes a run ``touch``-es it, and when the outermost hold of
the store lock is released, everything touched is written in one transaction, still
under the lock (so the file never lags a response: run-now answers after its run, and
its token, are on disk). On start the file is read back; runs that were active when the
previous process died are ended INTERNAL_ERROR with a message, after killing whatever
task processes of theirs outlived it (``_orphans``). Ids are seeded from the clock and
from the ids already on file, so a restarted backend never hands out an id an earlier
process used.

Thread safety: one re-entrant lock, ``RunStore.lock``, guards the store *and every
record in it*. Request handlers, the scheduler's worker threads and its timer thread
all take it for each read or write, and never hold it while waiting on a process.
"""

from __future__ import annotations

import bisect
import json
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from ._errors import job_does_not_exist, run_does_not_exist
from ._job_settings import parse_job_settings
from ._orphans import kill_orphaned_task_processes
from ._paging import decode_page_token, decode_page_token_of, encode_page_token
from ._persistence import StateDatabase
from ._records import JobRecord, RunRecord, TaskRunRecord
from ._run_filter import RunFilter
from ._snapshots import attempt_doc, attempt_from, job_doc, job_from, run_doc, run_from
from ._states import LifeCycleState
from ._store_lock import StoreLock
from ._terminations import end_interrupted

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str | None
    prev_page_token: str | None = None


class RunStore:
    def __init__(self, database: StateDatabase | None = None) -> None:
        self.lock = StoreLock(self._flush)
        self._database = database
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
        # Written at the next outermost lock release; see the module docstring.
        self._dirty_runs: set[int] = set()
        self._dirty_jobs: set[int] = set()
        self._deleted_jobs: set[int] = set()
        self._deleted_runs: set[int] = set()
        self._new_tokens: dict[str, int] = {}
        self._written_attempts: dict[int, str] = {}  # task run id -> its last written JSON
        if database is not None:
            with self.lock:
                self._load(database)

    # -- persistence -------------------------------------------------------------------

    def touch(self, run: RunRecord) -> None:
        """The run or one of its task runs changed: write it at the end of this lock hold."""
        self._dirty_runs.add(run.run_id)

    def touch_job(self, job: JobRecord) -> None:
        self._dirty_jobs.add(job.job_id)

    def _flush(self) -> None:
        if self._database is None or not (
            self._dirty_runs
            or self._dirty_jobs
            or self._deleted_jobs
            or self._deleted_runs
            or self._new_tokens
        ):
            return
        runs = [self._runs[run_id] for run_id in sorted(self._dirty_runs) if run_id in self._runs]
        attempts = []
        for run in runs:
            for attempt in _all_attempts(run):
                doc = attempt_doc(attempt)
                text = json.dumps(doc, sort_keys=True)
                if self._written_attempts.get(attempt.run_id) != text:
                    attempts.append(doc)
                    self._written_attempts[attempt.run_id] = text
        self._database.write(
            jobs_to_save=[job_doc(self._jobs[i]) for i in self._dirty_jobs if i in self._jobs],
            jobs_to_delete=list(self._deleted_jobs),
            runs_to_save=[run_doc(run) for run in runs],
            task_runs_to_save=attempts,
            runs_to_delete=list(self._deleted_runs),
            tokens_to_save=list(self._new_tokens.items()),
        )
        self._dirty_runs.clear()
        self._dirty_jobs.clear()
        self._deleted_jobs.clear()
        self._deleted_runs.clear()
        self._new_tokens.clear()

    def _load(self, database: StateDatabase) -> None:
        state = database.load()
        for doc in state.jobs:
            job = job_from(doc, parse_job_settings(doc["settings"], checked=False))
            self._jobs[job.job_id] = job
        for doc in state.runs:
            run = run_from(doc, self._jobs)
            self._runs[run.run_id] = run
            self._run_ids.append(run.run_id)
            if run.job_id is not None:
                self._run_ids_by_job.setdefault(run.job_id, []).append(run.run_id)
        for doc in state.task_runs:
            owner = self._runs.get(doc["parent_run_id"])
            if owner is None:
                continue
            parent = self._task_runs.get(doc["for_each_parent_id"] or 0)
            if parent is not None:
                assert parent.task.for_each_task is not None
                attempt = attempt_from(doc, parent.task.for_each_task, parent)
                parent.iterations.append(attempt)
            else:
                task = next(t for t in owner.tasks_spec if t.task_key == doc["task_key"])
                attempt = attempt_from(doc, task, None)
                owner.latest_attempts[attempt.task_key] = attempt
                owner.attempts.append(attempt)
            self._task_runs[attempt.run_id] = attempt
        self._run_id_by_token = dict(state.tokens)
        known = [*self._jobs, *self._runs, *self._task_runs, *state.tokens.values(), 0]
        self._next_job_id = max(self._next_job_id, max(self._jobs, default=0))
        self._next_run_id = max(self._next_run_id, max(known))
        interrupted = [run for run in self._runs.values() if not run.is_terminal]
        # Their processes outlived the SIGKILLed backend (own sessions): stop them first.
        kill_orphaned_task_processes(a for run in interrupted for a in _all_attempts(run))
        for run in interrupted:
            end_interrupted(run, _all_attempts(run))
            self.touch(run)

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
            self.touch_job(job)

    def find_job(self, job_id: int) -> JobRecord | None:
        with self.lock:
            return self._jobs.get(job_id)

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
            self._dirty_jobs.discard(job_id)
            self._deleted_jobs.add(job_id)
            return job

    def list_jobs(self, *, limit: int, page_token: str | None, name: str | None) -> Page[JobRecord]:
        """By job id; keyset tokens: "job" = the page after an id, "job-prev" = before one."""
        found = decode_page_token_of(page_token, ("job", "job-prev"))
        with self.lock:
            jobs = sorted(self._jobs.values(), key=lambda job: job.job_id)
            if name is not None:
                jobs = [job for job in jobs if job.spec.name.casefold() == name.casefold()]
            if found is None:
                start = 0
            elif found[0] == "job":
                start = bisect.bisect_right([job.job_id for job in jobs], found[1])
            else:  # the page that ends right before the job the token names
                start = max(0, bisect.bisect_left([job.job_id for job in jobs], found[1]) - limit)
            page = jobs[start : start + limit]
            after = start + limit < len(jobs)
            return Page(
                page,
                next_page_token=encode_page_token("job", page[-1].job_id) if after else None,
                prev_page_token=encode_page_token("job-prev", page[0].job_id)
                if page and start > 0
                else None,
            )

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
                self._new_tokens[run.idempotency_token] = run.run_id
            self.touch(run)

    def remove_run(self, run: RunRecord) -> None:
        """runs/delete: the run and its task runs go; its idempotency token stays taken."""
        with self.lock:
            del self._runs[run.run_id]
            self._run_ids.remove(run.run_id)
            if run.job_id is not None:
                self._run_ids_by_job[run.job_id].remove(run.run_id)
            for attempt in _all_attempts(run):
                self._task_runs.pop(attempt.run_id, None)
                self._written_attempts.pop(attempt.run_id, None)
            self._dirty_runs.discard(run.run_id)
            self._deleted_runs.add(run.run_id)

    def token_was_used(self, token: str) -> bool:
        """True when a run was made with the token, even if that run is gone now."""
        with self.lock:
            return token in self._run_id_by_token

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

    def find_task_run(self, run_id: int) -> TaskRunRecord | None:
        with self.lock:
            return self._task_runs.get(run_id)

    def mark_finished(self, run: RunRecord) -> None:
        with self.lock:
            self._unfinished_run_ids.discard(run.run_id)

    def mark_unfinished(self, run: RunRecord) -> None:
        """A repaired run is active again."""
        with self.lock:
            self._unfinished_run_ids.add(run.run_id)

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


def _all_attempts(run: RunRecord) -> Iterator[TaskRunRecord]:
    for attempt in run.attempts:
        yield attempt
        yield from attempt.iterations

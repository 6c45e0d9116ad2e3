"""Blob detection as a container grows to 100,000 blobs: listing requests per poll and the
delay from a new blob to its trigger, on Azurite (default) or on a local folder.

Layout: time-partitioned paths, ``landing/2026/11/<day>/<hour>/part-NNN.csv``, 100 blobs
an hour-folder, 24 hour-folders a day-folder. The container grows to each checkpoint and
the listener takes in every 10,000 blobs on the way (one poll each, not timed), so at a
checkpoint it has seen every blob there. Then the real listener loop (``Listener.run``,
default poll interval) runs while new blobs land at random moments (gaps of 0 to half an
interval), continuing the sequence: the first opens a new hour-folder. Per checkpoint:

- requests: listing requests per poll of the loop (min-max);
- poll ms: a poll's time (median), split into ``wide`` (listing the levels above the
  day-folders, each of which holds every blob), ``narrow`` (listing the day- and
  hour-folders) and ``rest`` (the listener's own work: seen set, checkpoint, event);
- detect s: from a new blob's upload returning to its trigger's dispatch message being
  handed to Redis (after the event's commit), p50 and p99 (of 10: the largest);
- flat: the usual alternative, listing every blob under the prefix (5,000 a page) and
  comparing with a seen set: the requests and time of one such listing (Azurite only).

    .venv/bin/python -m bench.blob_listing [CHECKPOINTS] [NEW_BLOBS] [--store folder]
    # default 1000,10000,25000,50000,100000 and 10 new blobs a checkpoint

How the container is filled fast is in ``bench.azurite_fill``.
"""

from __future__ import annotations

import argparse
import os
import queue
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import redis
from azure.storage.blob import ContainerClient
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from bench.azurite_fill import BulkUploader, connection_string, running_azurite
from service.embedded.redis_server import redis_reachable, start_private_redis
from service.runs.queue import DISPATCH_EVENT, CeleryTaskSender, make_celery
from service.settings import Settings
from service.store.db import make_engine, make_session_factory
from service.store.migrate import upgrade
from service.store.models import TriggerEvent
from service.store.models.triggers import FileWatch
from service.store.repositories import workflows as workflows_repo
from service.triggers.blob_listing import BlobStore, Entry
from service.triggers.blob_locations import Location, open_store
from service.triggers.listener import Listener, PollResult

CONTAINER = "bench"
PER_FOLDER = 100
TAKE_IN_EVERY = 10_000
PAGE = 5000  # the most one listing page holds
DEFAULT_CHECKPOINTS = "1000,10000,25000,50000,100000"
DEFAULT_NEW_BLOBS = 10


def blob_name(n: int) -> str:
    hour = n // PER_FOLDER
    return f"landing/2026/11/{1 + hour // 24:02d}/{hour % 24:02d}/part-{n % PER_FOLDER:03d}.csv"


class Landing(Protocol):
    """Where the blobs land: the watch's location and how blobs get there."""

    location: str
    root: str  # the watch's prefix inside its container

    def grow(self, first: int, end: int) -> None: ...

    def add(self, n: int) -> str:
        """Writes blob ``n``; returns its URL as trigger payloads give it."""
        ...

    def flat_listing(self) -> tuple[int, float] | None: ...

    def close(self) -> None: ...


class AzuriteLanding:
    def __init__(self, blob_url: str) -> None:
        self.location = f"{blob_url}/{CONTAINER}/landing/"
        self.root = "landing/"
        self._blob_url = blob_url
        self._container = ContainerClient.from_connection_string(
            connection_string(blob_url), CONTAINER
        )
        self._container.create_container()
        self._uploader = BulkUploader(blob_url, CONTAINER)

    def grow(self, first: int, end: int) -> None:
        self._uploader.upload([blob_name(n) for n in range(first, end)])

    def add(self, n: int) -> str:
        self._container.upload_blob(blob_name(n), b"new")
        return f"{self._blob_url}/{CONTAINER}/{blob_name(n)}"

    def flat_listing(self) -> tuple[int, float]:
        requests = 0

        def count(_response: object) -> None:
            nonlocal requests
            requests += 1

        began = time.perf_counter()
        for _ in self._container.list_blob_names(
            name_starts_with="landing/", results_per_page=PAGE, raw_response_hook=count
        ):
            pass
        return requests, time.perf_counter() - began

    def close(self) -> None:
        self._uploader.close()
        self._container.close()


class FolderLanding:
    """A folder on disk: one directory listing per level, whatever the rest holds."""

    def __init__(self, folder: Path) -> None:
        self.location = f"file://{folder}/landing/"
        self.root = ""  # the folder is the container
        self._folder = folder

    def grow(self, first: int, end: int) -> None:
        # Dated a minute back: the store skips files changed within the last second
        # (still being written), and these stand for files that landed earlier.
        landed = time.time() - 60
        for n in range(first, end):
            os.utime(self._write(n, b"x"), (landed, landed))

    def add(self, n: int) -> str:
        return f"file://{self._write(n, b'new')}"

    def _write(self, n: int, body: bytes) -> Path:
        path = self._folder / blob_name(n)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        return path

    def flat_listing(self) -> None:
        return None

    def close(self) -> None:
        pass


class TimedSender:
    """Hands messages to Redis and notes when each dispatch message went out."""

    def __init__(self, inner: CeleryTaskSender) -> None:
        self._inner = inner
        self.dispatched: queue.Queue[tuple[float, str]] = queue.Queue()

    def send(self, task_name: str, *args: str) -> None:
        self._inner.send(task_name, *args)
        if task_name == DISPATCH_EVENT:
            self.dispatched.put((time.perf_counter(), args[0]))


class TimedStore:
    """The listener's store, noting the time spent listing wide and narrow levels."""

    def __init__(self, inner: BlobStore, wide_levels: frozenset[str]) -> None:
        self._inner = inner
        self._wide_levels = wide_levels
        self.requests = 0
        self.wide_seconds = 0.0
        self.narrow_seconds = 0.0

    def level(self, prefix: str) -> Iterator[Entry]:
        began = time.perf_counter()
        entries = list(self._inner.level(prefix))
        took = time.perf_counter() - began
        if prefix in self._wide_levels:
            self.wide_seconds += took
        else:
            self.narrow_seconds += took
        self.requests = self._inner.requests
        yield from entries

    def close(self) -> None:
        self._inner.close()


@dataclass(frozen=True)
class PollTimes:
    requests: int
    seconds: float
    wide_seconds: float
    narrow_seconds: float


class TimedListener(Listener):
    """The real listener, noting each poll's listing requests and times."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        sender: TimedSender,
        settings: Settings,
        *,
        wide_levels: frozenset[str],
    ) -> None:
        super().__init__(sessions, sender, settings, store_factory=self._open_timed)
        self.poll_interval = settings.listener_poll_seconds
        self._store_settings = settings
        self._wide_levels = wide_levels
        self.store: TimedStore | None = None
        self.polls: list[PollTimes] = []

    def _open_timed(self, location: Location) -> BlobStore:
        self.store = TimedStore(open_store(location, self._store_settings), self._wide_levels)
        return self.store

    def poll(self, watch_id: str) -> PollResult | None:
        before = self.store
        wide = before.wide_seconds if before else 0.0
        narrow = before.narrow_seconds if before else 0.0
        began = time.perf_counter()
        result = super().poll(watch_id)
        took = time.perf_counter() - began
        if self.store is not before:  # reopened after a shutdown: counts start at zero
            wide = narrow = 0.0
        if result is not None and self.store is not None:
            self.polls.append(
                PollTimes(
                    requests=result.requests,
                    seconds=took,
                    wide_seconds=self.store.wide_seconds - wide,
                    narrow_seconds=self.store.narrow_seconds - narrow,
                )
            )
        return result


def detection_delays(
    listener: TimedListener,
    sender: TimedSender,
    sessions: sessionmaker[Session],
    landing: Landing,
    *,
    first: int,
    count: int,
) -> list[float]:
    """Runs the listener loop while ``count`` new blobs land at random moments; returns
    each one's delay to its dispatch message."""
    interval = listener.poll_interval
    listener.polls = []
    listener.should_exit.clear()
    loop = threading.Thread(target=listener.run, name="listener")
    loop.start()
    uploaded: dict[str, float] = {}
    delays: dict[str, float] = {}
    try:
        time.sleep(random.uniform(0, interval))
        for n in range(first, first + count):
            uploaded[landing.add(n)] = time.perf_counter()
            time.sleep(random.uniform(0, interval / 2))
        longest_poll = max((p.seconds for p in listener.polls), default=0.0)
        deadline = time.perf_counter() + 3 * (interval + longest_poll)
        while len(delays) < count and time.perf_counter() < deadline:
            try:
                at, event_id = sender.dispatched.get(timeout=1)
            except queue.Empty:
                continue
            with sessions() as session:
                event = session.get(TriggerEvent, event_id)
                files = list(event.payload.get("files", [])) if event else []
            delays.update({url: at - uploaded[url] for url in files if url in uploaded})
    finally:
        listener.should_exit.set()
        loop.join()
    if len(delays) < count:
        raise SystemExit(f"{count - len(delays)} new blobs were not detected")
    return list(delays.values())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


HEADER = (
    f"{'blobs':>7} {'write/s':>7} {'requests':>8} {'poll ms':>7} {'wide':>6} {'narrow':>6}"
    f" {'rest':>5} {'detect s p50':>12} {'p99':>5} {'flat requests':>13} {'flat ms':>7}"
)


def measure(settings: Settings, landing: Landing, checkpoints: list[int], new_blobs: int) -> None:
    upgrade(settings.resolved_database_url)
    sessions = make_session_factory(make_engine(settings.resolved_database_url))
    with sessions.begin() as session:
        workflows_repo.create_workflow(
            session,
            name="ingest",
            source={
                "name": "ingest",
                "trigger": {"file_arrival": {"url": landing.location}},
                "tasks": [{"task_key": "t", "type": "notebook", "notebook_path": "/x"}],
            },
        )
    celery = make_celery(settings, name="bench-blob")
    sender = TimedSender(CeleryTaskSender(celery))
    root = landing.root
    wide_levels = frozenset({root, f"{root}2026/", f"{root}2026/11/"})
    listener = TimedListener(sessions, sender, settings, wide_levels=wide_levels)
    listener.startup()
    listener.tick()  # the first poll records what is there (nothing)
    with sessions() as session:
        watch_id = session.query(FileWatch).one().id
    print(
        f"{type(landing).__name__}: poll interval {listener.poll_interval:g} s,"
        f" {new_blobs} new blobs a checkpoint, {PER_FOLDER} blobs an hour-folder",
        flush=True,
    )
    print(HEADER, flush=True)
    written = 0
    try:
        for target in checkpoints:
            write_seconds, grown = 0.0, 0
            while written < target:
                step = min(target, written + TAKE_IN_EVERY)
                began = time.perf_counter()
                landing.grow(written, step)
                write_seconds += time.perf_counter() - began
                grown, written = grown + step - written, step
                listener.poll(watch_id)  # the listener takes them in (not timed)
            flat = landing.flat_listing()
            delays = detection_delays(
                listener, sender, sessions, landing, first=written, count=new_blobs
            )
            written += new_blobs
            polls = listener.polls
            rest = [p.seconds - p.wide_seconds - p.narrow_seconds for p in polls]
            requests = f"{min(p.requests for p in polls)}-{max(p.requests for p in polls)}"
            flat_text = f"{flat[0]:>13} {flat[1] * 1000:>7.0f}" if flat else f"{'-':>13} {'-':>7}"
            print(
                f"{target:>7} {grown / max(write_seconds, 1e-9):>7.0f} {requests:>8}"
                f" {median_ms([p.seconds for p in polls]):>7.0f}"
                f" {median_ms([p.wide_seconds for p in polls]):>6.0f}"
                f" {median_ms([p.narrow_seconds for p in polls]):>6.0f}"
                f" {median_ms(rest):>5.0f} {percentile(delays, 0.5):>12.1f}"
                f" {percentile(delays, 0.99):>5.1f} {flat_text}",
                flush=True,
            )
    finally:
        listener.shutdown()
        celery.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.blob_listing")
    parser.add_argument("checkpoints", nargs="?", default=DEFAULT_CHECKPOINTS)
    parser.add_argument("new_blobs", nargs="?", type=int, default=DEFAULT_NEW_BLOBS)
    parser.add_argument("--store", choices=("azurite", "folder"), default="azurite")
    args = parser.parse_args()
    checkpoints = [int(s) for s in args.checkpoints.split(",")]
    workdir = Path(tempfile.mkdtemp())
    redis_process = None
    try:
        with ExitStack() as stack:
            landing: Landing
            connection: SecretStr | None = None
            if args.store == "azurite":
                blob_url = stack.enter_context(running_azurite(workdir))
                connection = SecretStr(connection_string(blob_url))
                landing = AzuriteLanding(blob_url)
            else:
                landing = FolderLanding(workdir / "inbox")
            stack.callback(landing.close)
            redis_url = "redis://127.0.0.1:6379/13"
            if not redis_reachable(redis_url, timeout=0.5):
                redis_url, redis_process = start_private_redis(workdir / "redis")
            settings = Settings(
                data_dir=workdir / "data",
                redis_url=redis_url,
                queue_prefix=f"bench-blob-{uuid.uuid4().hex[:8]}",
                databricks_token=SecretStr("x"),
                blob_connection_string=connection,
            )
            try:
                measure(settings, landing, checkpoints, args.new_blobs)
            finally:
                client = redis.Redis.from_url(redis_url)
                for key in client.scan_iter(match=f"{settings.queue_prefix}:*"):
                    client.delete(key)
                client.close()
    finally:
        if redis_process is not None:
            redis_process.terminate()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""``lockgate listener``: polls file-arrival locations and turns new files into triggers.

A small loop with ``startup``, ``tick`` and ``shutdown``; ``tick`` polls every watch
once and returns the seconds to sleep. Several listeners may run: each poll of a watch
happens under a lease (a conditional UPDATE), and a batch's event is unique per (watch,
files) besides.

Restart safety: a poll's findings (seen blobs, checkpoint, pending files) and the event
they fire are written in one transaction. A listener that dies mid-poll commits nothing,
so the next poll lists the same blobs again and finds them new; one that committed never
sees them again. Blobs that arrived while no listener ran sort after the checkpoint, and
are found by the next poll. The very first poll of a watch only records what is there:
files present before a trigger existed do not fire it (as in Databricks).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from service.observability.heartbeat import Heartbeat
from service.runs.queue import TaskSender
from service.settings import Settings
from service.store.models import Workflow, utcnow
from service.store.models.triggers import FileWatch
from service.store.repositories import file_watches as watches_repo
from service.triggers.blob_listing import BlobStore, Entry, folder_of, scan
from service.triggers.blob_locations import Location, LocationInvalid, open_store, parse_location
from service.triggers.definitions import workflow_triggers
from service.triggers.file_arrival import fire_if_due, observe
from service.triggers.ledger import AcceptedTrigger, announce
from service.triggers.sync import DefinitionSync

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    listed: int
    arrivals: int
    requests: int
    fired: AcceptedTrigger | None


class Listener:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        sender: TaskSender,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        heartbeat: Heartbeat | None = None,
        store_factory: Callable[[Location], BlobStore] | None = None,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._settings = settings
        self._clock = clock
        self._heartbeat = heartbeat
        self._open = store_factory or (lambda location: open_store(location, settings))
        self._sync = DefinitionSync(schedules=False, file_watches=True)
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:64]
        self._stores: dict[tuple[str, str, str], BlobStore] = {}
        self.should_exit = threading.Event()
        self._running = False
        self.last_results: dict[str, PollResult] = {}

    def startup(self) -> None:
        self._sync_definitions()

    def tick(self) -> float:
        """One round over every watch; returns how long to wait for the next, so rounds
        start every poll interval however long a round took (a new blob waits at most
        one interval plus its own round)."""
        started = time.monotonic()
        self._sync_definitions()
        with self._sessions() as session:
            watches = [w for w in watches_repo.list_watches(session) if not w.paused]
        for watch in watches:
            if self.should_exit.is_set():
                break  # stopping: a watch not polled yet waits for the next listener
            try:
                self.poll(watch.id)
            except (LocationInvalid, OSError) as exc:
                log.warning("cannot poll %s: %s", watch.workflow_name, exc)
            except Exception:
                # Azure SDK errors have no narrow common base; one bad watch must not
                # stop the others.
                log.exception("poll of %s failed", watch.workflow_name)
        return max(0.0, self._settings.listener_poll_seconds - (time.monotonic() - started))

    def shutdown(self) -> None:
        """Stops the loop. Safe from a signal handler: while ``run`` is looping, the poll
        in hand is finished and committed (its lease released) before ``run`` closes the
        stores; a store closed under a poll would abort it and leave its lease held."""
        self.should_exit.set()
        if not self._running:
            self._close_stores()

    def run(self) -> None:
        self._running = True
        try:
            self.startup()
            while not self.should_exit.is_set():
                try:
                    wait = self.tick()
                except OperationalError:
                    log.warning("listener tick failed; retrying", exc_info=True)
                    wait = self._settings.listener_poll_seconds
                if self._heartbeat is not None:
                    self._heartbeat.beat()
                self.should_exit.wait(wait)
        finally:
            self._running = False
            self.should_exit.set()
            self._close_stores()

    def _close_stores(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def poll(self, watch_id: str) -> PollResult | None:
        """Lists one watch from its checkpoint and fires it if due; None when another
        listener holds it."""
        now = self._clock()
        lease = timedelta(seconds=self._settings.listener_lease_seconds)
        with self._sessions() as session:
            if not watches_repo.claim_watch(
                session, watch_id=watch_id, owner=self._owner, now=now, until=now + lease
            ):
                session.rollback()
                return None
            session.commit()
        try:
            with self._sessions() as session:
                watch = session.get(FileWatch, watch_id)
                if watch is None:
                    return None
                result = self._poll_watch(session, watch, now)
                watches_repo.release_watch(session, watch_id=watch_id, owner=self._owner)
                session.commit()
        except IntegrityError:
            log.info("another listener recorded the same batch", extra={"watch": watch_id})
            return None
        if result.fired is not None:
            announce(self._sender, result.fired)
        self.last_results[watch_id] = result
        return result

    def _poll_watch(self, session: Session, watch: FileWatch, now: datetime) -> PollResult:
        location = parse_location(watch.location)
        store = self._store(location)
        before = store.requests
        entries = [
            e for e in scan(store, location.prefix, watch.checkpoint_name) if not e.is_folder
        ]
        requests = store.requests - before
        arrivals = 0
        if not watch.initialized:
            observe(session, watch=watch, entries=entries, now=now)
            watch.pending_files = []  # what was there before the trigger existed
            watch.last_change_at = None
            watch.initialized = True
        else:
            arrivals = len(observe(session, watch=watch, entries=entries, now=now).new)
        _advance_checkpoint(session, watch, entries)
        workflow = session.get(Workflow, watch.workflow_id)
        declared = workflow_triggers(workflow).parameters if workflow else {}
        fired = fire_if_due(session, watch=watch, location=location, declared=declared, now=now)
        watch.updated_at = now
        return PollResult(listed=len(entries), arrivals=arrivals, requests=requests, fired=fired)

    def _store(self, location: Location) -> BlobStore:
        key = location.key()
        if key not in self._stores:
            self._stores[key] = self._open(location)
        return self._stores[key]

    def _sync_definitions(self) -> None:
        with self._sessions() as session:
            try:
                self._sync.sync(session, now=self._clock())
                session.commit()
            except IntegrityError:
                session.rollback()
                self._sync = DefinitionSync(schedules=False, file_watches=True)


def _advance_checkpoint(session: Session, watch: FileWatch, entries: list[Entry]) -> None:
    """The checkpoint becomes the greatest name listed; seen rows for folders before its
    folder are forgotten (no poll lists them again)."""
    if not entries:
        return
    greatest = max(e.name for e in entries)
    if watch.checkpoint_name is None or greatest > watch.checkpoint_name:
        watch.checkpoint_name = greatest
        watches_repo.prune_seen_before(session, watch_id=watch.id, name=folder_of(greatest))

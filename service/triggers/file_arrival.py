"""File-arrival semantics, as Databricks defines them, over any source of blob names
(a listing poll or an Event Grid push):

- only a new name triggers; an overwrite (same name, new etag) triggers only when the
  watch says ``trigger_on_overwrite``;
- new files wait in the watch's pending list until none has arrived for
  ``wait_after_last_change_seconds`` (a burst becomes one run listing them all) and until
  ``min_time_between_triggers_seconds`` has passed since the last trigger;
- the run gets the watch's location as ``{{job.trigger.file_arrival.location}}`` in any
  declared job parameter that refers to it, and the new files' URLs, as a JSON list, in a
  declared parameter named ``new_files``. Both are in the event payload whatever the
  workflow declares.

Dedupe key of a trigger: a digest of the watch and the (name, etag) pairs it fires for,
so two listeners that somehow fire the same batch make one event.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.store.models.triggers import FileWatch
from service.store.repositories import file_watches as watches_repo
from service.triggers.blob_listing import Entry
from service.triggers.blob_locations import Location, LocationInvalid, parse_location
from service.triggers.ledger import AcceptedTrigger, record_trigger

SOURCE = "file_arrival"
LOCATION_REFERENCE = "{{job.trigger.file_arrival.location}}"
FILES_PARAMETER = "new_files"


def name_passes(watch: FileWatch, name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    if watch.suffix and not name.endswith(watch.suffix):
        return False
    return not (
        watch.glob
        and not (fnmatch.fnmatchcase(name, watch.glob) or fnmatch.fnmatchcase(base, watch.glob))
    )


def watch_matches(watch: FileWatch, url: str) -> bool:
    """Whether a blob URL falls under a watch's location and filters."""
    try:
        location, blob = parse_location(watch.location), parse_location(url)
    except LocationInvalid:
        return False
    if location.kind != blob.kind or location.container != blob.container:
        return False
    if location.kind == "azure" and location.account != blob.account:
        return False
    name = blob.prefix
    return name.startswith(location.prefix) and name_passes(watch, name)


def file_parameters(
    watch: FileWatch, *, files: Sequence[str], declared: Mapping[str, str] | Sequence[str]
) -> dict[str, str]:
    defaults = declared if isinstance(declared, Mapping) else {name: "" for name in declared}
    parameters: dict[str, str] = {}
    for name, default in defaults.items():
        if LOCATION_REFERENCE in default:
            parameters[name] = default.replace(LOCATION_REFERENCE, watch.location)
    if FILES_PARAMETER in defaults:
        parameters[FILES_PARAMETER] = json.dumps(list(files))
    return parameters


@dataclass(frozen=True)
class Observation:
    new: list[tuple[str, str]]  # (name, etag) that count as arrivals


def observe(
    session: Session, *, watch: FileWatch, entries: Sequence[Entry], now: datetime
) -> Observation:
    """Compares listed (or pushed) blobs with the seen set and adds the arrivals to the
    watch's pending list. Writes in the caller's transaction."""
    candidates = [e for e in entries if not e.is_folder]
    seen = watches_repo.seen_etags(session, watch_id=watch.id, names=[e.name for e in candidates])
    arrivals: list[tuple[str, str]] = []
    for entry in candidates:
        before = seen.get(entry.name)
        if before == entry.etag:
            continue
        watches_repo.mark_seen(
            session,
            watch_id=watch.id,
            name=entry.name,
            etag=entry.etag,
            now=now,
            known=before is not None,
        )
        is_new = before is None
        if (is_new or watch.trigger_on_overwrite) and name_passes(watch, entry.name):
            arrivals.append((entry.name, entry.etag))
    if arrivals:
        pending = {tuple(p) for p in watch.pending_files}
        watch.pending_files = [
            *watch.pending_files,
            *([n, e] for n, e in arrivals if (n, e) not in pending),
        ]
        watch.last_change_at = now
    return Observation(new=arrivals)


def due(watch: FileWatch, now: datetime) -> bool:
    if not watch.pending_files or watch.paused or watch.last_change_at is None:
        return False
    if now - watch.last_change_at < timedelta(seconds=watch.wait_after_last_change_seconds):
        return False
    return watch.last_triggered_at is None or now - watch.last_triggered_at >= timedelta(
        seconds=watch.min_time_between_triggers_seconds
    )


def fire_if_due(
    session: Session,
    *,
    watch: FileWatch,
    location: Location,
    declared: Mapping[str, str],
    now: datetime,
) -> AcceptedTrigger | None:
    """Records one trigger for everything pending, if the watch's timing allows it."""
    if not due(watch, now):
        return None
    batch = sorted((str(n), str(e)) for n, e in watch.pending_files)
    urls = [location.url_of(name) for name, _ in batch]
    digest = hashlib.sha256(
        json.dumps([watch.id, batch], separators=(",", ":")).encode()
    ).hexdigest()
    accepted = record_trigger(
        session,
        source=SOURCE,
        source_name=watch.workflow_name,
        dedupe_key=f"files:{digest}",
        workflow_id=watch.workflow_id,
        payload={"location": watch.location, "files": urls, "count": len(urls)},
        parameters=file_parameters(watch, files=urls, declared=declared),
        record_duplicate=False,
    )
    watch.pending_files = []
    watch.last_triggered_at = now
    return accepted

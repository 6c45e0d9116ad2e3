"""Event Grid push for file arrival: ``POST /events/eventgrid``.

Both delivery schemas are read: the Event Grid schema (a JSON array; ``eventType``,
``data.url``, ``data.eTag``) and CloudEvents 1.0 (one event or a batch; ``type``,
``data.url``). Only ``Microsoft.Storage.BlobCreated`` events matter; the rest are
counted and ignored. Subscription validation is answered in both forms: the Event Grid
schema's ``SubscriptionValidationEvent`` (echo ``validationCode``) and CloudEvents' abuse
protection (``OPTIONS`` with ``WebHook-Request-Origin``).

A pushed blob goes through the same seen set and timing rules as a listed one, so Event
Grid's at-least-once delivery, and a poll that later lists the same blob, fire nothing
twice. With ``wait_after_last_change_seconds`` at 0 a push fires at once; otherwise the
listener fires the batch when it is due.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from service.store.models import Workflow, utcnow
from service.store.repositories import file_watches as watches_repo
from service.triggers.blob_listing import Entry
from service.triggers.blob_locations import LocationInvalid, parse_location
from service.triggers.definitions import workflow_triggers
from service.triggers.file_arrival import fire_if_due, observe, watch_matches
from service.triggers.ledger import AcceptedTrigger

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
BLOB_CREATED = "Microsoft.Storage.BlobCreated"


class EventGridInvalid(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class BlobCreated:
    url: str
    etag: str


@dataclass
class Delivery:
    validation_code: str | None = None
    blobs: list[BlobCreated] = field(default_factory=list)
    ignored: int = 0


def read_delivery(body: Any) -> Delivery:
    events = body if isinstance(body, list) else [body]
    delivery = Delivery()
    for position, event in enumerate(events):
        where = f"$[{position}]" if isinstance(body, list) else "$"
        if not isinstance(event, dict):
            raise EventGridInvalid(where, "an event must be an object")
        kind = event.get("eventType") or event.get("type")
        data = event.get("data")
        if kind == VALIDATION_EVENT:
            code = data.get("validationCode") if isinstance(data, dict) else None
            if not isinstance(code, str):
                raise EventGridInvalid(f"{where}.data.validationCode", "missing")
            delivery.validation_code = code
        elif kind == BLOB_CREATED:
            if not isinstance(data, dict) or not isinstance(data.get("url"), str):
                raise EventGridInvalid(f"{where}.data.url", "a BlobCreated event needs data.url")
            etag = str(data.get("eTag") or data.get("etag") or event.get("id") or "")
            delivery.blobs.append(BlobCreated(url=data["url"], etag=etag.strip('"')))
        elif isinstance(kind, str):
            delivery.ignored += 1
        else:
            raise EventGridInvalid(where, "no eventType (Event Grid schema) or type (CloudEvents)")
    return delivery


def apply_blobs(session: Session, blobs: Sequence[BlobCreated]) -> list[AcceptedTrigger]:
    """Feeds pushed blobs to every watch they fall under; fires those now due."""
    now = utcnow()
    fired: list[AcceptedTrigger] = []
    watches = [w for w in watches_repo.list_watches(session) if not w.paused and w.initialized]
    for watch in watches:
        mine = [b for b in blobs if watch_matches(watch, b.url)]
        if not mine:
            continue
        try:
            location = parse_location(watch.location)
        except LocationInvalid:
            continue
        entries = [
            Entry(name=parse_location(b.url).prefix, is_folder=False, etag=b.etag) for b in mine
        ]
        observe(session, watch=watch, entries=entries, now=now)
        workflow = session.get(Workflow, watch.workflow_id)
        declared = workflow_triggers(workflow).parameters if workflow else {}
        accepted = fire_if_due(session, watch=watch, location=location, declared=declared, now=now)
        if accepted is not None:
            fired.append(accepted)
    return fired

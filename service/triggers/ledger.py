"""The trigger ledger: every trigger is written down before it is acknowledged.

Each source gives a dedupe key (a webhook's Idempotency-Key or signature, a schedule's
name and fire time, a blob's url and etag); a second copy of a trigger finds the first
event and starts nothing. The caller commits, then nudges the dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.runs.queue import DISPATCH_EVENT, TaskSender
from service.store.repositories import events as events_repo


@dataclass(frozen=True)
class AcceptedTrigger:
    event_id: str
    created: bool


def record_trigger(
    session: Session,
    *,
    source: str,
    source_name: str,
    dedupe_key: str,
    workflow_id: str,
    payload: dict[str, Any],
    parameters: dict[str, str],
) -> AcceptedTrigger:
    event, created = events_repo.record_event(
        session,
        source=source,
        source_name=source_name,
        dedupe_key=dedupe_key,
        workflow_id=workflow_id,
        payload=payload,
        parameters=parameters,
    )
    return AcceptedTrigger(event_id=event.id, created=created)


def announce(sender: TaskSender, accepted: AcceptedTrigger) -> None:
    """Call only after the commit: the message must never outrun its row."""
    if accepted.created:
        sender.send(DISPATCH_EVENT, accepted.event_id)

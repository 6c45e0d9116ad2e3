"""The trigger ledger: every trigger is written down before it is acknowledged.

Each source gives a dedupe key (a webhook's delivery id or signature, a schedule's name
and fire time, a blob batch's urls and etags); a second copy of a trigger finds the
first event and starts nothing, and is itself written down as a ``duplicate`` row that
names the first. Deliveries that start nothing for other reasons (``filtered``,
``rejected``) are written down the same way. The caller commits, then calls ``announce``.

Verdicts: ``duplicate``, ``filtered`` and ``rejected`` are set here; ``dispatched``,
``queued`` and ``skipped`` by the run engine when it dispatches; none yet means the
event waits for dispatch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.runs.finishing import emit_event
from service.runs.queue import (
    DELIVER_ALERT,
    DISPATCH_EVENT,
    TaskMessage,
    TaskSender,
    send_all,
)
from service.settings import Settings
from service.store.models import TriggerEvent, new_id, utcnow
from service.store.repositories import events as events_repo

log = logging.getLogger(__name__)


class Verdict:
    DUPLICATE = "duplicate"
    FILTERED = "filtered"
    REJECTED = "rejected"


@dataclass(frozen=True)
class AcceptedTrigger:
    event_id: str  # the accepted event (the first copy, for a duplicate)
    created: bool
    ledger_id: str = ""  # this delivery's own ledger row (== event_id when created)
    alert_ids: tuple[str, ...] = ()

    @property
    def row_id(self) -> str:
        return self.ledger_id or self.event_id


def record_trigger(
    session: Session,
    *,
    source: str,
    source_name: str,
    dedupe_key: str,
    workflow_id: str,
    payload: dict[str, Any],
    parameters: dict[str, str],
    replay_of_id: str | None = None,
    record_duplicate: bool = True,
) -> AcceptedTrigger:
    """Records an accepted trigger once per dedupe key; a repeat becomes a ``duplicate``
    ledger row (unless ``record_duplicate`` is off: two scheduler replicas computing
    the same fire are not two deliveries)."""
    event, created = events_repo.record_event(
        session,
        source=source,
        source_name=source_name,
        dedupe_key=dedupe_key,
        workflow_id=workflow_id,
        payload=payload,
        parameters=parameters,
        replay_of_id=replay_of_id,
    )
    if created or not record_duplicate:
        return AcceptedTrigger(event_id=event.id, created=created, ledger_id=event.id)
    duplicate = events_repo.record_ignored_event(
        session,
        source=source,
        source_name=source_name,
        dedupe_key=dedupe_key,
        workflow_id=workflow_id,
        verdict=Verdict.DUPLICATE,
        reason=f"the same delivery was accepted as event {event.id}",
        payload=payload,
        parameters=parameters,
        duplicate_of_id=event.id,
    )
    return AcceptedTrigger(event_id=event.id, created=False, ledger_id=duplicate.id)


@dataclass(frozen=True)
class NewTrigger:
    source_name: str
    dedupe_key: str
    workflow_id: str
    payload: dict[str, Any]
    parameters: dict[str, str] = field(default_factory=dict)


def record_triggers(
    session: Session, *, source: str, triggers: Sequence[NewTrigger]
) -> list[AcceptedTrigger]:
    """``record_trigger`` without duplicate rows, for a batch of one source (a scheduler's
    burst of fires), in two statements instead of a lookup and an insert each. Same
    outcome, in the same order: a key already recorded returns its event, not created.
    If another writer takes one of the keys between the lookup and the insert, the
    unique index refuses the insert and the batch is recorded again one by one, which
    reads the winners' rows."""
    if not triggers:
        return []
    keys = [(t.source_name, t.dedupe_key, t.workflow_id) for t in triggers]
    found = events_repo.accepted_event_ids(session, source=source, keys=keys)
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    received_at = utcnow()
    for key, trigger in zip(keys, triggers, strict=True):
        if key not in found and key not in rows:
            rows[key] = {
                "id": new_id(),
                # A microsecond apart, so the ledger (ordered by received_at) lists a
                # batch in its own order, e.g. a schedule's catch-up fires oldest first.
                "received_at": received_at + timedelta(microseconds=len(rows)),
                "source": source,
                "source_name": trigger.source_name,
                "dedupe_key": trigger.dedupe_key,
                "workflow_id": trigger.workflow_id,
                "payload": trigger.payload,
                "parameters": trigger.parameters,
            }
    try:
        with session.begin_nested():
            events_repo.insert_events(session, rows=list(rows.values()))
    except IntegrityError:
        return [_record_one(session, source, t) for t in triggers]
    accepted = []
    announced: set[str] = set()
    for key in keys:
        event_id = found[key] if key in found else rows[key]["id"]
        # Only the first of two identical triggers in one batch created its event.
        created = key not in found and event_id not in announced
        announced.add(event_id)
        accepted.append(AcceptedTrigger(event_id, created=created, ledger_id=event_id))
    return accepted


def _record_one(session: Session, source: str, trigger: NewTrigger) -> AcceptedTrigger:
    return record_trigger(
        session,
        source=source,
        source_name=trigger.source_name,
        dedupe_key=trigger.dedupe_key,
        workflow_id=trigger.workflow_id,
        payload=trigger.payload,
        parameters=trigger.parameters,
        record_duplicate=False,
    )


def record_filtered(
    session: Session,
    *,
    source: str,
    source_name: str,
    dedupe_key: str,
    workflow_id: str,
    reason: str,
    payload: dict[str, Any],
) -> TriggerEvent:
    return events_repo.record_ignored_event(
        session,
        source=source,
        source_name=source_name,
        dedupe_key=dedupe_key,
        workflow_id=workflow_id,
        verdict=Verdict.FILTERED,
        reason=reason,
        payload=payload,
    )


def record_rejected(
    session: Session,
    *,
    source: str,
    source_name: str,
    workflow_id: str,
    workflow_name: str,
    reason: str,
    detail: Mapping[str, Any],
    settings: Settings | None,
) -> AcceptedTrigger:
    """A delivery refused for its signature, size or content. Nothing of an untrusted
    body is kept (only ``detail``: sizes, header names); the rejection is also an alert
    event (``trigger.rejected``) for the channels that subscribe to it."""
    event = events_repo.record_ignored_event(
        session,
        source=source,
        source_name=source_name,
        dedupe_key=f"rejected:{new_id()}",
        workflow_id=workflow_id,
        verdict=Verdict.REJECTED,
        reason=reason,
        payload=dict(detail),
    )
    alert_ids = emit_alert_event(
        session,
        event_type="trigger.rejected",
        workflow_name=workflow_name,
        detail={
            "trigger_event_id": event.id,
            "source": source,
            "source_name": source_name,
            "reason": reason,
        },
        settings=settings,
    )
    return AcceptedTrigger(
        event_id=event.id, created=False, ledger_id=event.id, alert_ids=tuple(alert_ids)
    )


def emit_alert_event(
    session: Session,
    *,
    event_type: str,
    workflow_name: str | None,
    detail: Mapping[str, Any],
    settings: Settings | None,
) -> list[str]:
    """Hands an event without a run (``trigger.rejected``, ``expectation.missed``) to the
    alert policy. Returns the alert delivery ids to send after the commit (the sweeper
    sends them too if that message is lost)."""
    return emit_event(
        session,
        event_type=event_type,
        workflow_name=workflow_name,
        detail=detail,
        settings=settings,
    )


def announce(sender: TaskSender, accepted: AcceptedTrigger) -> None:
    """Call only after the commit: the message must never outrun its row."""
    for task_name, args in _messages(accepted):
        sender.send(task_name, *args)


def announce_all(sender: TaskSender, accepted: Sequence[AcceptedTrigger]) -> None:
    """``announce`` for a committed batch, in order: one broker round trip for all of
    its messages where the sender can batch them (a scheduler's burst)."""
    send_all(sender, [message for item in accepted for message in _messages(item)])


def _messages(accepted: AcceptedTrigger) -> list[TaskMessage]:
    messages: list[TaskMessage] = []
    if accepted.created:
        messages.append((DISPATCH_EVENT, (accepted.event_id,)))
    messages.extend((DELIVER_ALERT, (delivery_id,)) for delivery_id in accepted.alert_ids)
    return messages

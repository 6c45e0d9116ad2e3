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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.runs.queue import DELIVER_ALERT, DISPATCH_EVENT, TaskSender
from service.settings import Settings
from service.store.models import TriggerEvent, new_id
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
    from service.runs import finishing

    emit = getattr(finishing, "emit_event", None)
    if emit is None:  # the alerting engine predates events without a run
        log.warning("alert event %s not routed: no emit_event", event_type)
        return []
    ids: list[str] = emit(
        session,
        event_type=event_type,
        workflow_name=workflow_name,
        detail=detail,
        settings=settings,
    )
    return ids


def announce(sender: TaskSender, accepted: AcceptedTrigger) -> None:
    """Call only after the commit: the message must never outrun its row."""
    if accepted.created:
        sender.send(DISPATCH_EVENT, accepted.event_id)
    for delivery_id in accepted.alert_ids:
        sender.send(DELIVER_ALERT, delivery_id)

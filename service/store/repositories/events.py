from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.store.models import EventStatus, TriggerEvent, utcnow


def find_event(
    session: Session, *, source: str, source_name: str, dedupe_key: str
) -> TriggerEvent | None:
    return session.scalars(
        select(TriggerEvent).where(
            TriggerEvent.source == source,
            TriggerEvent.source_name == source_name,
            TriggerEvent.dedupe_key == dedupe_key,
        )
    ).one_or_none()


def record_event(
    session: Session,
    *,
    source: str,
    source_name: str,
    dedupe_key: str,
    workflow_id: str,
    payload: dict[str, Any],
    parameters: dict[str, Any],
) -> tuple[TriggerEvent, bool]:
    """Inserts the event or returns the one already recorded under the same dedupe key.

    The unique constraint, not the lookup, is what guarantees one event per key: two
    concurrent deliveries race to the insert and the loser reads the winner's row.
    Returns (event, created).
    """
    existing = find_event(session, source=source, source_name=source_name, dedupe_key=dedupe_key)
    if existing is not None:
        return existing, False
    event = TriggerEvent(
        source=source,
        source_name=source_name,
        dedupe_key=dedupe_key,
        workflow_id=workflow_id,
        payload=payload,
        parameters=parameters,
    )
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        winner = find_event(session, source=source, source_name=source_name, dedupe_key=dedupe_key)
        if winner is None:
            raise
        return winner, False
    return event, True


def claim_event_for_dispatch(session: Session, *, event_id: str) -> bool:
    result = session.execute(
        update(TriggerEvent)
        .where(TriggerEvent.id == event_id, TriggerEvent.status == EventStatus.RECEIVED)
        .values(status=EventStatus.DISPATCHED, verdict="dispatched", dispatched_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def undispatched_event_ids(
    session: Session, *, older_than: datetime, limit: int = 500
) -> list[str]:
    return list(
        session.scalars(
            select(TriggerEvent.id)
            .where(
                TriggerEvent.status == EventStatus.RECEIVED, TriggerEvent.received_at < older_than
            )
            .order_by(TriggerEvent.received_at, TriggerEvent.id)
            .limit(limit)
        )
    )

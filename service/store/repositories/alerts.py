from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.store.models import AlertDelivery, DeliveryStatus, utcnow


def add_delivery(
    session: Session,
    *,
    run_id: str,
    event_type: str,
    channel: str,
    target: str,
    payload: dict[str, Any],
) -> AlertDelivery | None:
    """Adds a delivery unless the same (run, event, channel, target) exists: a run whose end
    is observed twice must still alert each target once."""
    existing = session.scalars(
        select(AlertDelivery).where(
            AlertDelivery.run_id == run_id,
            AlertDelivery.event_type == event_type,
            AlertDelivery.channel == channel,
            AlertDelivery.target == target,
        )
    ).one_or_none()
    if existing is not None:
        return None
    delivery = AlertDelivery(
        run_id=run_id, event_type=event_type, channel=channel, target=target, payload=payload
    )
    session.add(delivery)
    session.flush()
    return delivery


def get_delivery(session: Session, *, delivery_id: str) -> AlertDelivery | None:
    return session.get(AlertDelivery, delivery_id)


def list_deliveries(session: Session, *, run_id: str) -> list[AlertDelivery]:
    return list(
        session.scalars(
            select(AlertDelivery)
            .where(AlertDelivery.run_id == run_id)
            .order_by(AlertDelivery.created_at, AlertDelivery.id)
        )
    )


def claim_delivery_attempt(
    session: Session, *, delivery_id: str, attempts: int, lease_until: datetime
) -> bool:
    """Claims one attempt: only the worker whose UPDATE matched the attempt count it read
    sends; a duplicate message for the same attempt finds the count moved on."""
    result = session.execute(
        update(AlertDelivery)
        .where(
            AlertDelivery.id == delivery_id,
            AlertDelivery.status == DeliveryStatus.PENDING,
            AlertDelivery.attempts == attempts,
        )
        .values(attempts=attempts + 1, next_attempt_at=lease_until)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def due_delivery_ids(session: Session, *, now: datetime, limit: int = 500) -> list[str]:
    return list(
        session.scalars(
            select(AlertDelivery.id)
            .where(
                AlertDelivery.status == DeliveryStatus.PENDING, AlertDelivery.next_attempt_at <= now
            )
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
            .limit(limit)
        )
    )


def mark_delivered(session: Session, *, delivery: AlertDelivery) -> None:
    delivery.status = DeliveryStatus.DELIVERED
    delivery.delivered_at = utcnow()
    delivery.last_error = None


def mark_attempt_failed(
    session: Session, *, delivery: AlertDelivery, error: str, retry_at: datetime | None
) -> None:
    delivery.last_error = error[:2000]
    if retry_at is None:
        delivery.status = DeliveryStatus.DEAD
    else:
        delivery.next_attempt_at = retry_at

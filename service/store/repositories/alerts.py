"""Alert deliveries, their attempts, and the history the dedupe/throttle policy reads.

Keyword-only functions that add or flush and never commit: an alert decided at a run's
end commits with the run's terminal state, in the caller's transaction.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.store.models import AlertDelivery, DeliveryStatus, utcnow
from service.store.models.alerting import AlertAttempt


def add_delivery(
    session: Session,
    *,
    run_id: str | None,
    event_type: str,
    channel: str,
    target: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
) -> AlertDelivery | None:
    """``insert_delivery`` with only the fields a run's own alert needs."""
    return insert_delivery(
        session,
        run_id=run_id,
        event_type=event_type,
        channel=channel,
        target=target,
        payload=payload,
        dedupe_key=dedupe_key,
    )


def insert_delivery(
    session: Session,
    *,
    run_id: str | None,
    event_type: str,
    channel: str,
    target: str,
    payload: dict[str, Any],
    dedupe_key: str | None = None,
    alert_key: str = "",
    workflow_name: str | None = None,
    format: str = "generic",
    channel_name: str | None = None,
    subscription_id: str | None = None,
    status: str = DeliveryStatus.PENDING,
    folded_into_id: str | None = None,
    now: datetime | None = None,
) -> AlertDelivery | None:
    """Adds a delivery unless one with the same ``dedupe_key`` exists (then None): an
    occurrence observed twice must still reach each target once. Without a dedupe key,
    the key is (run, event, channel, target)."""
    key = dedupe_key or _default_dedupe_key(run_id, event_type, channel, target)
    if session.scalars(select(AlertDelivery.id).where(AlertDelivery.dedupe_key == key)).first():
        return None
    moment = now or utcnow()
    delivery = AlertDelivery(
        run_id=run_id,
        event_type=event_type,
        channel=channel,
        target=target,
        payload=payload,
        dedupe_key=key,
        alert_key=alert_key,
        workflow_name=workflow_name,
        format=format,
        channel_name=channel_name,
        subscription_id=subscription_id,
        status=status,
        folded_into_id=folded_into_id,
        created_at=moment,
        last_occurrence_at=moment,
        next_attempt_at=moment,
    )
    # A concurrent emitter may insert the same key between the check and the flush; the
    # savepoint keeps the caller's transaction usable when it does.
    try:
        with session.begin_nested():
            session.add(delivery)
            session.flush()
    except IntegrityError:
        return None
    return delivery


def _default_dedupe_key(run_id: str | None, event_type: str, channel: str, target: str) -> str:
    basis = "\x1f".join([run_id or "", event_type, channel, target])
    return hashlib.sha256(basis.encode()).hexdigest()


def count_occurrence(session: Session, *, delivery_id: str, at: datetime) -> None:
    """A repeat was folded into this alert. Counted in SQL so concurrent folds add up."""
    delivery = session.get(AlertDelivery, delivery_id)
    if delivery is None:
        return
    sent = delivery.status != DeliveryStatus.PENDING
    session.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery_id)
        .values(
            occurrences=AlertDelivery.occurrences + 1,
            unsent_occurrences=AlertDelivery.unsent_occurrences + (1 if sent else 0),
            last_occurrence_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    session.expire(delivery)


def recent_alerts(
    session: Session, *, workflow_name: str | None, event_type: str, since: datetime
) -> list[AlertDelivery]:
    """Alerts (not suppressed repeats) decided since ``since`` for this workflow, or for
    this event type when there is no workflow."""
    query = select(AlertDelivery).where(
        AlertDelivery.created_at >= since, AlertDelivery.status != DeliveryStatus.SUPPRESSED
    )
    if workflow_name is None:
        query = query.where(
            AlertDelivery.workflow_name.is_(None), AlertDelivery.event_type == event_type
        )
    else:
        query = query.where(AlertDelivery.workflow_name == workflow_name)
    return list(session.scalars(query.order_by(AlertDelivery.created_at, AlertDelivery.id)))


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


def list_recent_deliveries(
    session: Session,
    *,
    status: str | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[AlertDelivery]:
    """Newest first, keyset-paginated on (created_at, id): the id breaks ties so a page
    boundary between two rows of the same instant neither skips nor repeats one."""
    query = select(AlertDelivery)
    if status is not None:
        query = query.where(AlertDelivery.status == status)
    if before is not None:
        created, ident = before
        query = query.where(
            (AlertDelivery.created_at < created)
            | ((AlertDelivery.created_at == created) & (AlertDelivery.id < ident))
        )
    query = query.order_by(AlertDelivery.created_at.desc(), AlertDelivery.id.desc())
    return list(session.scalars(query.limit(limit)))


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


def requeue_delivery(session: Session, *, delivery: AlertDelivery, now: datetime) -> bool:
    """Redelivery: a delivered or dead alert is sent again with the payload decided at the
    time (the policy is not re-run). Its attempt history is kept; the count restarts."""
    if delivery.status == DeliveryStatus.SUPPRESSED:
        return False
    delivery.status = DeliveryStatus.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.delivered_at = None
    session.flush()
    return True


def record_attempt(
    session: Session,
    *,
    delivery_id: str,
    number: int,
    started_at: datetime,
    outcome: str,
    status_code: int | None = None,
    error: str | None = None,
) -> AlertAttempt:
    attempt = AlertAttempt(
        delivery_id=delivery_id,
        number=number,
        started_at=started_at,
        finished_at=utcnow(),
        outcome=outcome,
        status_code=status_code,
        error=error[:2000] if error else None,
    )
    session.add(attempt)
    session.flush()
    return attempt


def list_attempts(session: Session, *, delivery_id: str) -> list[AlertAttempt]:
    return list(
        session.scalars(
            select(AlertAttempt)
            .where(AlertAttempt.delivery_id == delivery_id)
            .order_by(AlertAttempt.started_at, AlertAttempt.id)
        )
    )

"""Sending one alert delivery: claim the attempt, send, record the outcome.

Re-delivering never re-runs the alert policy: the payload was decided when the run
ended and is stored on the row. Waits between attempts live in ``next_attempt_at``,
which the sweeper reads, so a long backoff never sits in the broker.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.alerts import DeliveryError, deliver
from service.settings import Settings
from service.store.models import AlertDelivery, DeliveryStatus, utcnow
from service.store.models.alerting import AlertSubscription
from service.store.repositories import alerts as alerts_repo

log = logging.getLogger(__name__)

# While a worker holds an attempt, the row is not due; if the worker dies the sweeper
# picks the row up again once this lease runs out.
_ATTEMPT_LEASE = timedelta(seconds=120)
_MAX_BACKOFF_SECONDS = 3600.0


def retry_delay(*, attempts: int, base_seconds: float, jitter: float) -> float:
    """Exponential backoff with up to 20% jitter (``jitter`` in [0, 1))."""
    delay = min(base_seconds * (2 ** max(attempts - 1, 0)), _MAX_BACKOFF_SECONDS)
    return delay * (1 + 0.2 * jitter)


def payload_to_send(delivery: AlertDelivery) -> dict[str, Any]:
    """The payload decided at emit time plus what the row knows now: how many times this
    alert happened (repeats folded in by the dedupe/throttle windows count until sent)."""
    return {
        **delivery.payload,
        "alert": {
            "id": delivery.id,
            "channel": delivery.channel_name,
            "occurrences": delivery.occurrences,
            "first_occurred_at": delivery.created_at.isoformat(),
            "last_occurred_at": delivery.last_occurrence_at.isoformat(),
        },
    }


def deliver_alert(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    delivery_id: str,
    clock: Callable[[], datetime] = utcnow,
) -> str:
    """Returns the delivery's status after this attempt (or as found, if not ours)."""
    now = clock()
    with sessions.begin() as session:
        delivery = alerts_repo.get_delivery(session, delivery_id=delivery_id)
        if delivery is None:
            return "missing"
        if delivery.status != DeliveryStatus.PENDING or delivery.next_attempt_at > now:
            return delivery.status
        if (
            delivery.subscription_id
            and session.get(AlertSubscription, delivery.subscription_id) is None
        ):
            # Unsubscribed since the alert was decided (or while it waited for a retry):
            # the person asked for no more mail, so none is sent.
            reason = "not sent: the subscription was removed (unsubscribed)"
            alerts_repo.mark_attempt_failed(session, delivery=delivery, error=reason, retry_at=None)
            return DeliveryStatus.DEAD
        attempts = delivery.attempts
        if not alerts_repo.claim_delivery_attempt(
            session, delivery_id=delivery_id, attempts=attempts, lease_until=now + _ATTEMPT_LEASE
        ):
            return delivery.status
        channel, target, fmt = delivery.channel, delivery.target, delivery.format
        subscription_id = delivery.subscription_id
        payload = payload_to_send(delivery)
        number = len(alerts_repo.list_attempts(session, delivery_id=delivery_id)) + 1
    error: DeliveryError | None = None
    try:
        deliver(
            channel=channel,
            target=target,
            payload=payload,
            delivery_id=delivery_id,
            settings=settings,
            format=fmt,
            subscription_id=subscription_id,
        )
    except DeliveryError as exc:
        error = exc
    with sessions.begin() as session:
        delivery = alerts_repo.get_delivery(session, delivery_id=delivery_id)
        if delivery is None:
            return "missing"
        if error is None:
            alerts_repo.mark_delivered(session, delivery=delivery)
            alerts_repo.record_attempt(
                session,
                delivery_id=delivery_id,
                number=number,
                started_at=now,
                outcome="delivered",
            )
        else:
            attempt = attempts + 1
            retry_at: datetime | None = None
            if error.transient and attempt < settings.alert_max_attempts:
                delay = retry_delay(
                    attempts=attempt,
                    base_seconds=settings.alert_backoff_seconds,
                    jitter=random.random(),
                )
                # A receiver that says when to come back (Retry-After) is believed.
                delay = max(delay, min(error.retry_after_seconds or 0.0, _MAX_BACKOFF_SECONDS))
                retry_at = clock() + timedelta(seconds=delay)
            alerts_repo.mark_attempt_failed(
                session, delivery=delivery, error=str(error), retry_at=retry_at
            )
            alerts_repo.record_attempt(
                session,
                delivery_id=delivery_id,
                number=number,
                started_at=now,
                outcome="retry" if retry_at else "dead",
                status_code=error.status,
                error=str(error),
            )
            log.warning(
                "alert delivery attempt %d failed (%s): %s",
                attempt,
                "will retry" if retry_at else "dead-lettered",
                error,
                extra={"delivery_id": delivery_id},
            )
        return delivery.status

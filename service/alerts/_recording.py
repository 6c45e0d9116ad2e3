"""Writing what ``route`` decided: one delivery row per request, a repeat counted on the
alert it folds into; and the recent alerts ``route`` needs, read back as ``PastAlert``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from service.policies.alerting import AlertEvent, AlertRequest, PastAlert
from service.store.models import AlertDelivery, DeliveryStatus
from service.store.repositories import alerts as alerts_repo


def record_requests(
    session: Session,
    event: AlertEvent,
    requests: Sequence[AlertRequest],
    payload: dict[str, Any],
    *,
    run_id: str | None,
) -> list[str]:
    """The ids of the deliveries to send (after the caller commits)."""
    delivery_ids: list[str] = []
    for request in requests:
        body = payload
        if request.suppressed_since_last:
            body = {**payload, "suppressed_since_last_alert": request.suppressed_since_last}
        delivery = alerts_repo.insert_delivery(
            session,
            run_id=run_id,
            event_type=request.event_type,
            channel=request.channel,
            target=request.target,
            # A fresh dict per row: rows are stored and rendered independently.
            payload=json.loads(json.dumps(body, default=str)),
            dedupe_key=request.dedupe_key,
            alert_key=request.alert_key,
            workflow_name=event.workflow_name,
            format=request.format,
            channel_name=request.channel_name,
            subscription_id=request.subscription_id,
            status=DeliveryStatus.SUPPRESSED if request.folded_into else DeliveryStatus.PENDING,
            folded_into_id=request.folded_into,
            now=event.occurred_at,
        )
        if delivery is None:
            continue  # this occurrence already reached this target
        if request.folded_into:
            alerts_repo.count_occurrence(
                session, delivery_id=request.folded_into, at=event.occurred_at
            )
        else:
            delivery_ids.append(delivery.id)
    return delivery_ids


def past_alert(delivery: AlertDelivery, *, job_key: str | None = None) -> PastAlert:
    return PastAlert(
        delivery_id=delivery.id,
        channel="email" if delivery.channel == "email" else "webhook",
        target=delivery.target,
        alert_key=delivery.alert_key,
        workflow_name=delivery.workflow_name,
        created_at=delivery.created_at,
        sent=delivery.status != DeliveryStatus.PENDING,
        unsent_occurrences=delivery.unsent_occurrences,
        event_type=delivery.event_type,
        job_key=job_key,
    )

"""/api/v1/alerts: decided alerts, each with its attempt history; redelivery."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from service.api.deps import AdminAccess, ReadAccess, SenderDep, SessionDep
from service.api.problems import Problem
from service.runs.queue import DELIVER_ALERT
from service.store.models import AlertDelivery, DeliveryStatus, utcnow
from service.store.repositories import alerts as alerts_repo

router = APIRouter(prefix="/api/v1/alerts", tags=["alerting"])

_STATUSES = (
    DeliveryStatus.PENDING,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.DEAD,
    DeliveryStatus.SUPPRESSED,
)


def delivery_view(delivery: AlertDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event_type": delivery.event_type,
        "workflow": delivery.workflow_name,
        "run_id": delivery.run_id,
        "channel": delivery.channel,
        "channel_name": delivery.channel_name,
        "subscription_id": delivery.subscription_id,
        "format": delivery.format,
        "target": delivery.target,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_error": delivery.last_error,
        "occurrences": delivery.occurrences,
        "folded_into": delivery.folded_into_id,
        "created_at": delivery.created_at.isoformat(),
        "last_occurrence_at": delivery.last_occurrence_at.isoformat(),
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
    }


def _delivery_or_404(session: SessionDep, delivery_id: str) -> AlertDelivery:
    delivery = alerts_repo.get_delivery(session, delivery_id=delivery_id)
    if delivery is None:
        raise Problem(404, "Unknown alert", f"no alert has the id {delivery_id!r}")
    return delivery


@router.get("")
def list_alerts(
    session: SessionDep,
    _: ReadAccess,
    status: Annotated[str | None, Query(description=" | ".join(_STATUSES))] = None,
    before: Annotated[str | None, Query(description="cursor: next_before of a page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    if status is not None and status not in _STATUSES:
        raise Problem(
            422,
            "Invalid status",
            f"status must be one of {', '.join(_STATUSES)}",
            errors=[{"path": "$.query.status", "message": f"not one of {', '.join(_STATUSES)}"}],
        )
    cursor = _parse_cursor(before) if before else None
    page = alerts_repo.list_recent_deliveries(session, status=status, before=cursor, limit=limit)
    next_before = f"{page[-1].created_at.isoformat()}|{page[-1].id}" if len(page) == limit else None
    return {"alerts": [delivery_view(d) for d in page], "next_before": next_before}


def _parse_cursor(text: str) -> tuple[datetime, str]:
    stamp, _, ident = text.rpartition("|")
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise Problem(
            422,
            "Invalid cursor",
            "before must be the next_before value of a previous page",
            errors=[{"path": "$.query.before", "message": "not a cursor from this API"}],
        ) from exc
    if when.tzinfo is None or not ident:
        raise Problem(
            422,
            "Invalid cursor",
            "before must be the next_before value of a previous page",
            errors=[{"path": "$.query.before", "message": "not a cursor from this API"}],
        )
    return when, ident


@router.get("/{delivery_id}")
def get_alert(delivery_id: str, session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    delivery = _delivery_or_404(session, delivery_id)
    return {
        **delivery_view(delivery),
        "payload": delivery.payload,
        "history": [
            {
                "number": a.number,
                "started_at": a.started_at.isoformat(),
                "finished_at": a.finished_at.isoformat() if a.finished_at else None,
                "outcome": a.outcome,
                "status_code": a.status_code,
                "error": a.error,
            }
            for a in alerts_repo.list_attempts(session, delivery_id=delivery_id)
        ],
    }


@router.post("/{delivery_id}/redeliver", status_code=202)
def redeliver(
    delivery_id: str, session: SessionDep, sender: SenderDep, _: AdminAccess
) -> dict[str, Any]:
    """Sends the alert again as it was decided (the routing policy is not re-run)."""
    delivery = _delivery_or_404(session, delivery_id)
    if delivery.status == DeliveryStatus.PENDING:
        raise Problem(409, "Already pending", "this alert is waiting to be sent")
    if not alerts_repo.requeue_delivery(session, delivery=delivery, now=utcnow()):
        raise Problem(
            409,
            "Nothing to send",
            f"this alert was a repeat counted in {delivery.folded_into_id}; redeliver that one",
        )
    session.commit()
    sender.send(DELIVER_ALERT, delivery_id)
    return delivery_view(delivery)

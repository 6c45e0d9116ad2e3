"""Alerts: channels and their subscriptions, every decided alert with its attempts,
redelivery of a dead-lettered one, and a test alert to a channel. The actions call the
API's route functions (``service.api.routes.alerts`` and ``.channels``)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from service.api.problems import Problem
from service.api.routes import alerts as alerts_api
from service.api.routes import channels as channels_api
from service.store.models import DeliveryStatus
from service.store.repositories import alert_channels as channels_repo
from service.store.repositories import alerts as alerts_repo
from service.ui._errors import UiError
from service.ui._queries import decode_cursor, encode_cursor
from service.ui._redact import redacted_payload
from service.ui._render import render, secure_headers
from service.ui._sessions import CheckedForm, SignedIn

router = APIRouter(prefix="/ui", include_in_schema=False)

PAGE_SIZE = 50
STATUSES = (
    DeliveryStatus.PENDING,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.DEAD,
    DeliveryStatus.SUPPRESSED,
)


@router.get("/alerts", name="ui_alerts")
def alerts_page(
    request: Request,
    console: SignedIn,
    status: str | None = None,
    before: str | None = None,
    notice: str | None = None,
) -> Response:
    if status and status not in STATUSES:
        raise UiError(400, "Unknown status", f"status: use one of {', '.join(STATUSES)}")
    with request.app.state.sessions() as session:
        channels = channels_repo.list_channels(session)
        found = alerts_repo.list_recent_deliveries(
            session,
            status=status or None,
            before=decode_cursor(before) if before else None,
            limit=PAGE_SIZE + 1,
        )
        page, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
        return render(
            request,
            "alerts.html",
            {
                "channels": channels,
                "deliveries": page,
                "older": encode_cursor(page[-1].created_at, page[-1].id) if more else None,
                "status": status or "",
                "statuses": STATUSES,
                "first_page": before is None,
                "notice": notice,
            },
        )


@router.get("/alerts/{delivery_id}", name="ui_alert")
def alert_page(
    request: Request, delivery_id: str, console: SignedIn, notice: str | None = None
) -> Response:
    with request.app.state.sessions() as session:
        delivery = alerts_repo.get_delivery(session, delivery_id=delivery_id)
        if delivery is None:
            raise UiError(404, "Unknown alert", f"no alert has the id {delivery_id!r}")
        payload = redacted_payload(delivery.payload, request.app.state.settings)
        return render(
            request,
            "alert.html",
            {
                "delivery": delivery,
                "attempts": alerts_repo.list_attempts(session, delivery_id=delivery.id),
                "payload_text": json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False),
                "notice": notice,
            },
        )


@router.post("/alerts/{delivery_id}/redeliver")
def redeliver(request: Request, delivery_id: str, console: SignedIn, form: CheckedForm) -> Response:
    principal = console.require("admin")
    with request.app.state.sessions() as session:
        try:
            alerts_api.redeliver(delivery_id, session, request.app.state.task_sender, principal)
        except Problem as exc:
            raise UiError.from_problem(exc) from exc
    return secure_headers(
        RedirectResponse(f"/ui/alerts/{delivery_id}?notice=redelivery-queued", status_code=303)
    )


@router.post("/channels/{name}/test")
def test_alert(request: Request, name: str, console: SignedIn, form: CheckedForm) -> Response:
    principal = console.require("admin")
    with request.app.state.sessions() as session:
        try:
            channels_api.test_alert(
                name, session, request.app.state.settings, request.app.state.task_sender, principal
            )
        except Problem as exc:
            raise UiError.from_problem(exc) from exc
    return secure_headers(RedirectResponse("/ui/alerts?notice=test-alert-queued", status_code=303))

"""POST /events/eventgrid: Azure Event Grid push for file arrival (see
``service.triggers.eventgrid``).

Access: the shared key ``LOCKGATE_EVENTGRID_ACCESS_KEY`` in ``?key=`` (put it in the
subscription's endpoint URL) or ``X-Lockgate-Key``; or an Entra ID bearer token with the
trigger scope, when Entra is configured (Event Grid's "Microsoft Entra authentication").
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service.api.deps import SenderDep, SessionDep, SettingsDep
from service.api.problems import Problem
from service.settings import Settings
from service.triggers.eventgrid import EventGridInvalid, apply_blobs, read_delivery
from service.triggers.ledger import announce

router = APIRouter(tags=["ingress"])

MAX_BODY_BYTES = 1024 * 1024  # Event Grid batches are at most 1 MB


def _authorize(request: Request, settings: Settings) -> None:
    presented = request.query_params.get("key") or request.headers.get("x-lockgate-key")
    configured = settings.eventgrid_access_key
    if presented and configured is not None:
        if hmac.compare_digest(presented.encode(), configured.get_secret_value().encode()):
            return
        raise Problem(401, "Invalid key", "the Event Grid access key does not match")
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    verifier = getattr(request.app.state, "entra", None)
    if scheme.lower() == "bearer" and token and verifier is not None:
        from service.api.entra import InvalidToken

        try:
            principal = verifier.verify(token.strip())
        except InvalidToken as exc:
            raise Problem(401, "Invalid token", str(exc)) from exc
        if principal.allows("trigger"):
            return
        raise Problem(403, "Not allowed", "this needs the 'trigger' scope")
    raise Problem(
        401,
        "Authentication required",
        "send the Event Grid access key as ?key= (LOCKGATE_EVENTGRID_ACCESS_KEY) "
        "or an Entra ID token",
    )


@router.options("/events/eventgrid")
def cloudevents_handshake(request: Request, settings: SettingsDep) -> Response:
    """CloudEvents abuse protection: allow the origin that asks."""
    _authorize(request, settings)
    origin = request.headers.get("webhook-request-origin", "")
    return Response(status_code=200, headers={"WebHook-Allowed-Origin": origin or "*"})


@router.post("/events/eventgrid")
async def receive_eventgrid(
    request: Request, session: SessionDep, settings: SettingsDep, sender: SenderDep
) -> JSONResponse:
    _authorize(request, settings)
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise Problem(413, "Body too large", f"the limit is {MAX_BODY_BYTES} bytes")
    try:
        body: Any = json.loads(raw)
        delivery = read_delivery(body)
    except ValueError as exc:
        if isinstance(exc, EventGridInvalid):
            raise Problem(
                400,
                "Not an Event Grid delivery",
                exc.message,
                errors=[{"path": exc.path, "message": exc.message}],
            ) from exc
        raise Problem(400, "Body is not JSON", str(exc)) from exc
    if delivery.validation_code is not None:
        return JSONResponse({"validationResponse": delivery.validation_code})
    fired = apply_blobs(session, delivery.blobs)
    session.commit()
    for accepted in fired:
        announce(sender, accepted)
    return JSONResponse(
        {
            "blobs": len(delivery.blobs),
            "ignored": delivery.ignored,
            "event_ids": [a.event_id for a in fired if a.created],
        }
    )

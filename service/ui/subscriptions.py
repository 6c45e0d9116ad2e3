"""Self-service email subscriptions: subscribe an address to a channel, confirm it from
the mail, and leave it in one click (``service.alerts._optin`` holds the logic).

- ``/ui/subscribe`` needs a console sign-in (any scope). Not anonymous: an open form
  would let anyone on the network make Lockgate mail arbitrary addresses (each request
  sends one), and it would publish the channel names; a sign-in ties every request to a
  key, and the confirmation mail names that key.
- ``/ui/subscriptions/confirm`` and ``/ui/unsubscribe`` need no sign-in: the person
  following the link may have no Lockgate key at all. The signed token in the link is
  the authority, so these forms carry no CSRF token (a forged POST would need the token).
  A GET only shows a page with a button: mail scanners fetch links, and a fetch must
  never confirm or unsubscribe anyone.
- ``POST /ui/unsubscribe?token=...`` is the RFC 8058 one-click target: mail clients
  POST ``List-Unsubscribe=One-Click`` (url-encoded or multipart, as the RFC allows) with
  no cookies. The token names the one subscription to remove; the body is not needed.
  These pages never touch the console's session store, so they work with Redis down.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from service.alerts import (
    DeliveryError,
    OptInUnavailable,
    SubscribeRefused,
    SubscriptionGone,
    SubscriptionRequest,
    TokenExpired,
    TokenInvalid,
    confirm_subscription,
    request_subscription,
    subscription_to_confirm,
    subscription_to_leave,
    unsubscribe,
)
from service.settings import Settings
from service.store.models import utcnow
from service.store.models.alerting import SubscriptionStatus
from service.store.repositories import alert_channels as channels_repo
from service.ui._errors import UiError
from service.ui._forms import read_form
from service.ui._render import render, secure_headers
from service.ui._sessions import CheckedForm, SignedIn

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/ui", include_in_schema=False)

MAX_ADDRESS_CHARS = 320  # RFC 5321's longest path


@router.get("/subscribe", name="ui_subscribe")
def subscribe_form(
    request: Request,
    console: SignedIn,
    channel: str | None = None,
    sent: str | None = None,
    already: str | None = None,
) -> Response:
    return _form_page(request, channel=channel or "", sent=sent, already=already)


@router.post("/subscribe")
def subscribe(request: Request, console: SignedIn, form: CheckedForm) -> Response:
    channel_name = form.get("channel").strip()
    address = form.get("address").strip()
    try:
        outcome = _request(request, channel_name, address, requested_by=console.name)
    except _FormError as exc:
        # Rendered after the store session closed: SQLite's writer lock is released.
        return _form_page(
            request,
            channel=channel_name,
            address=address[:MAX_ADDRESS_CHARS],
            errors={exc.field: exc.message},
            status_code=exc.status,
        )
    logger.info(
        "subscription %s to channel %s: %s",
        outcome.subscription_id,
        channel_name,
        outcome.outcome,
        extra={"subscription_id": outcome.subscription_id, "key_name": console.name},
    )
    query = {"channel": channel_name}
    query["sent" if outcome.outcome == "sent" else "already"] = outcome.address
    return _redirect(f"/ui/subscribe?{urlencode(query)}")


class _FormError(Exception):
    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


def _request(
    request: Request, channel_name: str, address: str, *, requested_by: str
) -> SubscriptionRequest:
    """Stores the pending subscription and mails the link, or raises ``_FormError``
    with nothing stored."""
    if len(address) > MAX_ADDRESS_CHARS:
        raise _FormError("address", f"$.address: longer than {MAX_ADDRESS_CHARS} characters")
    settings: Settings = request.app.state.settings
    with request.app.state.sessions() as session:
        channel = channels_repo.get_channel(session, name=channel_name) if channel_name else None
        if channel is None:
            raise _FormError(
                "channel",
                f"$.channel: no channel is named {channel_name!r}"
                if channel_name
                else "$.channel: choose a channel",
            )
        try:
            outcome = request_subscription(
                session,
                channel=channel,
                address=address,
                requested_by=requested_by,
                settings=settings,
                now=utcnow(),
            )
        except SubscribeRefused as exc:
            status = 429 if exc.too_soon else 400
            raise _FormError("address", f"{exc.path}: {exc.message}", status) from exc
        except DeliveryError as exc:
            # Left uncommitted: the address never got a link, so no pending row stays.
            logger.warning("confirmation mail to %s failed: %s", address, exc)
            raise _FormError(
                "address", f"$.address: the confirmation mail could not be sent: {exc}", 502
            ) from exc
        except OptInUnavailable as exc:
            raise UiError(503, "Subscriptions unavailable", str(exc)) from exc
        session.commit()
        return outcome


@router.get("/subscriptions/confirm", name="ui_subscription_confirm")
def confirm_page(request: Request, token: str = "") -> Response:
    settings: Settings = request.app.state.settings
    with request.app.state.sessions() as session, _link_errors():
        subscription = subscription_to_confirm(
            session, token=token, settings=settings, now=utcnow()
        )
        already = subscription.status == SubscriptionStatus.ACTIVE
        return render(
            request,
            "subscriptions/confirm.html",
            {
                "token": token,
                "channel": subscription.channel.name,
                "address": subscription.target,
                "already": already,
            },
        )


@router.post("/subscriptions/confirm")
async def confirm(request: Request) -> Response:
    form = await read_form(request)
    settings: Settings = request.app.state.settings
    with request.app.state.sessions() as session, _link_errors():
        subscription = confirm_subscription(
            session, token=form.get("token"), settings=settings, now=utcnow()
        )
        channel, address = subscription.channel.name, subscription.target
        session.commit()
        logger.info(
            "subscription %s confirmed",
            subscription.id,
            extra={"subscription_id": subscription.id},
        )
    return render(
        request,
        "subscriptions/done.html",
        {
            "title": "Subscribed",
            "message": f"{address} now receives the alerts of channel {channel}.",
            "hint": "Every alert mail has an unsubscribe link.",
        },
    )


@router.get("/unsubscribe", name="ui_unsubscribe")
def unsubscribe_page(request: Request, token: str = "") -> Response:
    settings: Settings = request.app.state.settings
    with request.app.state.sessions() as session, _link_errors():
        subscription = subscription_to_leave(session, token=token, settings=settings, now=utcnow())
        if subscription is None:
            return _not_subscribed(request)
        return render(
            request,
            "subscriptions/unsubscribe.html",
            {"token": token, "channel": subscription.channel.name, "address": subscription.target},
        )


@router.post("/unsubscribe")
def unsubscribe_now(request: Request, token: str = "") -> Response:
    settings: Settings = request.app.state.settings
    with request.app.state.sessions() as session, _link_errors():
        removed = unsubscribe(session, token=token, settings=settings, now=utcnow())
        session.commit()
    if removed is None:
        return _not_subscribed(request)
    logger.info("unsubscribed %s from channel %s", removed.address, removed.channel)
    return render(
        request,
        "subscriptions/done.html",
        {
            "title": "Unsubscribed",
            "message": f"{removed.address} no longer receives the alerts of channel "
            f"{removed.channel}.",
            "hint": "Other subscriptions of this address are unchanged.",
        },
    )


@contextmanager
def _link_errors() -> Iterator[None]:
    """A link that is not (or no longer) good: a 4xx page, and the session is left
    uncommitted, so nothing changes."""
    try:
        yield
    except TokenExpired as exc:
        raise UiError(
            410, "Link expired", "this confirmation link has expired: subscribe again"
        ) from exc
    except TokenInvalid as exc:
        raise UiError(400, "Invalid link", str(exc)) from exc
    except SubscriptionGone as exc:
        raise UiError(404, "No such subscription", str(exc)) from exc
    except OptInUnavailable as exc:
        raise UiError(503, "Subscriptions unavailable", str(exc)) from exc


def _not_subscribed(request: Request) -> Response:
    return render(
        request,
        "subscriptions/done.html",
        {
            "title": "Not subscribed",
            "message": "This subscription no longer exists: nothing more will be sent for it.",
            "hint": "",
        },
    )


def _form_page(
    request: Request,
    *,
    channel: str,
    address: str = "",
    sent: str | None = None,
    already: str | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    with request.app.state.sessions() as session:
        names = [c.name for c in channels_repo.list_channels(session)]
    return render(
        request,
        "subscriptions/subscribe.html",
        {
            "channels": names,
            "channel": channel,
            "address": address,
            "sent": sent,
            "already": already,
            "errors": errors or {},
            "confirm_hours": round(request.app.state.settings.subscription_confirm_seconds / 3600),
        },
        status_code=status_code,
    )


def _redirect(url: str) -> Response:
    return secure_headers(RedirectResponse(url, status_code=303))

"""Self-service email subscriptions: ask (double opt-in), confirm, and leave in one click.

Why double opt-in: the console lets any signed-in user type any address. Without the
address's own consent that would be a way to send Lockgate's mail (and a channel's
failure text) to people who never asked. So a request makes a *pending* subscription,
which routing ignores (``subscription_routes``), and mails the address a signed,
expiring link; only following it (and pressing Confirm: mail scanners fetch links, so
a GET alone never changes anything) makes it active.

Invariants a reader must not break:
- The nonce in a confirmation link is stored on the subscription. A new request replaces
  it, which voids the older links; confirming clears it, so a link works once.
- Unsubscribe removes exactly the subscription its signed token names, nothing else,
  and needs no sign-in (RFC 8058: mail clients POST with no cookies).
- The functions take the session and flush; the caller commits. ``request_subscription``
  sends the mail before the caller commits: if sending fails the caller rolls back and
  nothing is stored; if the commit fails after a send, the link finds no subscription.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy.orm import Session

from service.alerts._email import send_message
from service.alerts._email_message import envelope_address
from service.alerts._errors import DeliveryError
from service.alerts._optin_mail import render_confirmation
from service.alerts._optin_tokens import TokenInvalid, confirm_url, read_token
from service.settings import Settings
from service.store.models.alerting import AlertChannel, AlertSubscription, SubscriptionStatus
from service.store.repositories import alert_channels as channels_repo

# A second request for the same pending address within this long sends nothing: the
# form must not be a way to flood someone's inbox.
RESEND_AFTER = timedelta(seconds=60)


class SubscribeRefused(Exception):
    """A request the form should show back, with the JSON path of the field at fault."""

    def __init__(self, path: str, message: str, *, too_soon: bool = False) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        # Asked again within RESEND_AFTER: a 429 to the form, not a 400.
        self.too_soon = too_soon


class SubscriptionGone(Exception):
    """The link names a subscription that no longer exists (removed, or never stored)."""


@dataclass(frozen=True)
class SubscriptionRequest:
    subscription_id: str
    address: str
    # "sent": a confirmation mail is on its way; "active": the address already hears it.
    outcome: Literal["sent", "active"]
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Removed:
    channel: str
    address: str


def request_subscription(
    session: Session,
    *,
    channel: AlertChannel,
    address: str,
    requested_by: str | None,
    settings: Settings,
    now: datetime,
) -> SubscriptionRequest:
    """A pending subscription of ``address`` to ``channel``, and its confirmation mail.

    Raises ``SubscribeRefused`` (bad address, asked again too soon), ``DeliveryError``
    (the mail could not be sent: roll back) or ``OptInUnavailable``."""
    try:
        bare = envelope_address(address.strip())
    except DeliveryError as exc:
        raise SubscribeRefused("$.address", f"{address!r} is not one email address") from exc
    if not address.strip() or "@" not in bare:
        raise SubscribeRefused("$.address", f"{address!r} is not one email address")
    subscription = _email_subscription(channel, bare)
    if subscription is not None and subscription.status == SubscriptionStatus.ACTIVE:
        return SubscriptionRequest(subscription.id, bare, "active")
    sent_at = subscription.confirm_sent_at if subscription is not None else None
    if sent_at is not None and now - sent_at < RESEND_AFTER:
        raise SubscribeRefused(
            "$.address",
            f"a confirmation mail went to {bare} less than a minute ago",
            too_soon=True,
        )
    if subscription is None:
        # Empty narrowing lists: the address hears everything the channel carries.
        subscription = channels_repo.add_subscription(
            session,
            channel=channel,
            kind="email",
            target=bare,
            format="generic",
            event_types=[],
            workflows=[],
            workflow_tags={},
        )
    nonce = secrets.token_urlsafe(18)
    subscription.status = SubscriptionStatus.PENDING
    subscription.confirm_nonce = nonce
    subscription.confirm_sent_at = now
    subscription.confirmed_at = None
    subscription.requested_by = (requested_by or "")[:100] or None
    session.flush()
    expires_at = now + timedelta(seconds=settings.subscription_confirm_seconds)
    link = confirm_url(
        settings, subscription_id=subscription.id, nonce=nonce, expires_at=expires_at
    )
    message = render_confirmation(
        to=bare,
        sender=settings.mail_from,
        channel=channel.name,
        link=link,
        expires_at=expires_at,
        requested_by=requested_by,
        message_id=f"confirm-{subscription.id}-{nonce[:8]}",
    )
    # Keyed by subscription: in the mailbox folder a re-sent mail replaces the older one.
    send_message(message, target=bare, file_id=f"confirm-{subscription.id}", settings=settings)
    return SubscriptionRequest(subscription.id, bare, "sent", expires_at)


def subscription_to_confirm(
    session: Session, *, token: str, settings: Settings, now: datetime
) -> AlertSubscription:
    """The subscription a confirmation link names, checked but unchanged (for the page
    that shows the Confirm button). An active one is returned as it is: confirming twice
    is not an error. Raises ``TokenInvalid``/``TokenExpired`` or ``SubscriptionGone``."""
    claims = read_token(settings, token, purpose="confirm", now=now)
    subscription = session.get(AlertSubscription, claims.subscription_id)
    if subscription is None:
        raise SubscriptionGone("this subscription no longer exists")
    if subscription.status == SubscriptionStatus.ACTIVE:
        return subscription
    stored = subscription.confirm_nonce or ""
    if not stored or not hmac.compare_digest(stored, claims.nonce or ""):
        raise TokenInvalid("a newer confirmation mail replaced this link")
    return subscription


def confirm_subscription(
    session: Session, *, token: str, settings: Settings, now: datetime
) -> AlertSubscription:
    subscription = subscription_to_confirm(session, token=token, settings=settings, now=now)
    if subscription.status == SubscriptionStatus.PENDING:
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.confirmed_at = now
        subscription.confirm_nonce = None
        session.flush()
    return subscription


def subscription_to_leave(
    session: Session, *, token: str, settings: Settings, now: datetime
) -> AlertSubscription | None:
    """The subscription an unsubscribe link names, or None if it is already gone.
    Raises ``TokenInvalid`` for a link this Lockgate did not make."""
    claims = read_token(settings, token, purpose="unsubscribe", now=now)
    return session.get(AlertSubscription, claims.subscription_id)


def unsubscribe(
    session: Session, *, token: str, settings: Settings, now: datetime
) -> Removed | None:
    """Remove the one subscription the link names; None if it was already gone."""
    subscription = subscription_to_leave(session, token=token, settings=settings, now=now)
    if subscription is None:
        return None
    removed = Removed(channel=subscription.channel.name, address=subscription.target)
    channels_repo.delete_subscription(session, subscription=subscription)
    return removed


def _email_subscription(channel: AlertChannel, address: str) -> AlertSubscription | None:
    """The channel's email subscription for ``address`` (case-insensitive), if any."""
    wanted = address.lower()
    for subscription in channel.subscriptions:
        if subscription.kind != "email":
            continue
        try:
            existing = envelope_address(subscription.target).lower()
        except DeliveryError:
            continue  # an unparseable old target is not this address
        if existing == wanted:
            return subscription
    return None

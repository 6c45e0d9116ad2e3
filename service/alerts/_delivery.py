"""``deliver``: send one alert on one channel to one target, or raise ``DeliveryError``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.alerts._email import send_email
from service.alerts._errors import DeliveryError
from service.alerts._webhook import post_webhook
from service.settings import Settings


def deliver(
    *,
    channel: str,
    target: str,
    payload: Mapping[str, Any],
    delivery_id: str,
    settings: Settings,
    format: str = "generic",
    subscription_id: str | None = None,
) -> None:
    """Deliver once; the caller owns retries, backoff and dead-lettering.

    ``delivery_id`` must identify the delivery, not the attempt: it becomes the webhook's
    ``webhook-id``, the email's Message-ID and the mailbox file name, which is how
    receivers recognise a retry of an alert they already have. ``format`` (webhooks
    only): ``generic`` JSON, ``slack`` blocks or a ``teams`` Adaptive Card.
    ``subscription_id`` (email only) is the named-channel subscription the alert goes to:
    its mail carries that subscription's one-click unsubscribe link.
    """
    if channel == "email":
        send_email(
            target=target,
            payload=payload,
            delivery_id=delivery_id,
            settings=settings,
            subscription_id=subscription_id,
        )
    elif channel == "webhook":
        post_webhook(
            url=target,
            payload=payload,
            delivery_id=delivery_id,
            settings=settings,
            format=format,
        )
    else:
        raise DeliveryError(f"unknown alert channel {channel!r}", transient=False)

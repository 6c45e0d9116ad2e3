"""Checking a subscription before it is stored, and sending a channel's test alert.

A subscription is refused up front when it could never be delivered: a malformed
address, a URL that is not http(s) (or not https outside development), or a webhook
whose host is, or resolves to, an address the egress guard refuses. The guard still
checks again at every send: DNS answers change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from service.alerts._egress import (
    EgressRefused,
    address_allowed,
    check_url,
    parse_networks,
    resolve_allowed,
)
from service.alerts._email_message import envelope_address
from service.alerts._errors import DeliveryError
from service.policies.alerting import EVENT_TYPES
from service.settings import Settings
from service.store.models import utcnow
from service.store.models.alerting import AlertChannel, SubscriptionStatus
from service.store.repositories import alerts as alerts_repo

SUBSCRIPTION_KINDS = ("email", "webhook")
WEBHOOK_FORMATS = ("generic", "slack", "teams")
TEST_EVENT_TYPE = "alert.test"


@dataclass(frozen=True)
class SubscriptionIssue:
    path: str
    message: str


def subscription_issues(
    *,
    kind: str,
    target: str,
    format: str,
    event_types: Sequence[str],
    settings: Settings,
    resolve: bool = True,
) -> list[SubscriptionIssue]:
    """Every problem with a subscription, each with the JSON path of its field."""
    issues = [
        SubscriptionIssue(f"$.event_types[{i}]", f"{name!r} is not one of {', '.join(EVENT_TYPES)}")
        for i, name in enumerate(event_types)
        if name not in EVENT_TYPES
    ]
    if kind == "email":
        if format != "generic":
            issues.append(SubscriptionIssue("$.format", "email subscriptions have no format"))
        try:
            envelope_address(target)
        except DeliveryError:
            issues.append(SubscriptionIssue("$.target", f"{target!r} is not one email address"))
        return issues
    if format not in WEBHOOK_FORMATS:
        issues.append(SubscriptionIssue("$.format", f"must be one of {', '.join(WEBHOOK_FORMATS)}"))
    try:
        url = check_url(target, require_https=settings.environment != "development")
        if resolve:
            _check_host(url.host, url.port or (443 if url.scheme == "https" else 80), settings)
    except DeliveryError as exc:
        issues.append(SubscriptionIssue("$.target", str(exc)))
    return issues


def _check_host(host: str, port: int, settings: Settings) -> None:
    allowed = parse_networks(settings.alert_egress_networks)
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        resolve_allowed(host, port, allowed)  # raises EgressRefused or a DNS error
        return
    if not address_allowed(literal, allowed):
        raise EgressRefused(
            f"{literal} is a private, loopback or link-local address "
            "(allow it with LOCKGATE_ALERT_EGRESS_ALLOWED_NETWORKS)"
        )


def send_test_alert(session: Session, *, channel: AlertChannel, settings: Settings) -> list[str]:
    """One delivery per subscription of the channel, outside the routing policy (a test
    must reach every target, whatever it narrows to, and must not count as a repeat)."""
    now = utcnow()
    payload: dict[str, Any] = {
        "event_type": TEST_EVENT_TYPE,
        "occurred_at": now.isoformat(),
        "workflow": {"name": None, "tags": {}},
        "run": None,
        "trigger": None,
        "failed_task_count": 0,
        "failed_tasks": [],
        "detail": {
            "message": f"Test alert for channel {channel.name}",
            "channel": channel.name,
            "lockgate": settings.lockgate_base_url,
        },
    }
    ids: list[str] = []
    for subscription in channel.subscriptions:
        if subscription.status != SubscriptionStatus.ACTIVE:
            continue  # an unconfirmed address gets nothing, a test alert included
        delivery = alerts_repo.insert_delivery(
            session,
            run_id=None,
            event_type=TEST_EVENT_TYPE,
            channel=subscription.kind,
            target=subscription.target,
            payload=dict(payload),
            dedupe_key=f"test:{subscription.id}:{now.timestamp()}",
            format=subscription.format,
            channel_name=channel.name,
            subscription_id=subscription.id,
            now=now,
        )
        if delivery is not None:
            ids.append(delivery.id)
    return ids

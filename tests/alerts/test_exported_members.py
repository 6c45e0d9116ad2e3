"""The public surface of the alert and policy packages, pinned."""

from __future__ import annotations

import service.alerts
import service.policies


def test_alerts_exports() -> None:
    assert sorted(service.alerts.__all__) == [
        "DeliveryError",
        "OptInUnavailable",
        "Removed",
        "SUBSCRIPTION_KINDS",
        "SubscribeRefused",
        "SubscriptionGone",
        "SubscriptionIssue",
        "SubscriptionRequest",
        "TokenExpired",
        "TokenInvalid",
        "WEBHOOK_FORMATS",
        "WorkflowAlerting",
        "confirm_subscription",
        "confirm_url",
        "deliver",
        "duration_limit",
        "event_payload",
        "failing_tasks",
        "request_subscription",
        "run_payload",
        "send_test_alert",
        "sign_payload",
        "subscription_issues",
        "subscription_routes",
        "subscription_to_confirm",
        "subscription_to_leave",
        "unsubscribe",
        "unsubscribe_url",
        "verify_signature",
        "workflow_alerting",
    ]
    for name in service.alerts.__all__:
        value = getattr(service.alerts, name)
        if not isinstance(value, tuple):
            assert value.__module__.startswith("service.alerts")


def test_policies_exports_alerting() -> None:
    assert {"AlertEvent", "AlertRequest", "AlertRoutes", "PastAlert", "Route", "route"} <= set(
        service.policies.__all__
    )

"""Alerts: what a payload says, where it goes, and delivering it.

Which alerts to send is decided by ``service.policies.alerting.route``; the routes it
reads come from ``workflow_alerting`` (a workflow's own lists and switches) and
``subscription_routes`` (named channels). ``deliver`` sends one decided alert and raises
``DeliveryError`` (``transient`` or not) when it could not.

Self-service email subscriptions (double opt-in, one-click unsubscribe) are
``request_subscription``, ``confirm_subscription`` and ``unsubscribe``, driven by signed
links (``TokenInvalid``, ``TokenExpired``, ``OptInUnavailable``).
"""

from service.alerts._content import event_payload, failing_tasks, run_payload
from service.alerts._delivery import deliver
from service.alerts._errors import DeliveryError
from service.alerts._optin import (
    Removed,
    SubscribeRefused,
    SubscriptionGone,
    SubscriptionRequest,
    confirm_subscription,
    request_subscription,
    subscription_to_confirm,
    subscription_to_leave,
    unsubscribe,
)
from service.alerts._optin_tokens import (
    OptInUnavailable,
    TokenExpired,
    TokenInvalid,
    confirm_url,
    unsubscribe_url,
)
from service.alerts._routes import (
    WorkflowAlerting,
    duration_limit,
    subscription_routes,
    workflow_alerting,
)
from service.alerts._signing import sign_payload, verify_signature
from service.alerts._subscribing import (
    SUBSCRIPTION_KINDS,
    WEBHOOK_FORMATS,
    SubscriptionIssue,
    send_test_alert,
    subscription_issues,
)

__all__ = [
    "SUBSCRIPTION_KINDS",
    "WEBHOOK_FORMATS",
    "DeliveryError",
    "OptInUnavailable",
    "Removed",
    "SubscribeRefused",
    "SubscriptionGone",
    "SubscriptionIssue",
    "SubscriptionRequest",
    "TokenExpired",
    "TokenInvalid",
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

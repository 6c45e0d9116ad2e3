"""Pure decision functions: data in, frozen dataclasses out; the tasks around them do the I/O."""

from service.policies.alerting import (
    EVENT_TYPES,
    AlertChannel,
    AlertEvent,
    AlertRequest,
    AlertRoutes,
    PastAlert,
    Route,
    WebhookFormat,
    duration_exceeded,
    route,
)
from service.policies.inline_routes import inline_routes

__all__ = [
    "EVENT_TYPES",
    "AlertChannel",
    "AlertEvent",
    "AlertRequest",
    "AlertRoutes",
    "PastAlert",
    "Route",
    "WebhookFormat",
    "duration_exceeded",
    "inline_routes",
    "route",
]

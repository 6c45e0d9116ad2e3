"""Pure decision functions: data in, frozen dataclasses out; the tasks around them do the I/O."""

from service.policies.alerting import (
    AlertChannel,
    AlertEventType,
    AlertRequest,
    AlertRoutes,
    FailedTask,
    RunOutcome,
    build_payload,
    route,
)

__all__ = [
    "AlertChannel",
    "AlertEventType",
    "AlertRequest",
    "AlertRoutes",
    "FailedTask",
    "RunOutcome",
    "build_payload",
    "route",
]

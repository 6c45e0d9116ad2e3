"""The public surface of the alert and policy packages, pinned."""

from __future__ import annotations

import service.alerts
import service.policies


def test_alerts_exports() -> None:
    assert sorted(service.alerts.__all__) == [
        "DeliveryError",
        "deliver",
        "sign_payload",
        "verify_signature",
    ]
    for name in service.alerts.__all__:
        assert getattr(service.alerts, name).__module__.startswith("service.alerts")


def test_policies_exports_alerting() -> None:
    assert {"AlertRequest", "AlertRoutes", "FailedTask", "RunOutcome", "route"} <= set(
        service.policies.__all__
    )

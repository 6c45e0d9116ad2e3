"""A webhook refused for its signature is a ``trigger.rejected`` alert for the channels
that subscribe to it, through the real API (uvicorn, real Redis for the queued send)."""

from __future__ import annotations

from sqlalchemy import select

from service.runs.queue import DELIVER_ALERT
from service.store.models import AlertDelivery, TriggerEvent
from tests.api.conftest import Api, api  # noqa: F401  (the fixture)
from tests.factories import signed_post, simple_workflow
from tests.queued_tasks import queued_tasks

SECRET = "a-very-secret-hook-secret"


def test_a_bad_signature_alerts_the_subscribed_channel(api: Api) -> None:  # noqa: F811
    client = api.client
    workflow = simple_workflow("etl", notifications={"on_failure": ["owner@example.com"]})
    assert client.post("/api/v1/workflows", json=workflow).status_code == 201
    hook = {"name": "orders", "workflow": "etl", "secret": SECRET}
    assert client.post("/api/v1/hooks", json=hook).status_code == 201
    assert client.post("/api/v1/channels", json={"name": "security"}).status_code == 201
    subscribed = client.post(
        "/api/v1/channels/security/subscriptions",
        json={"kind": "email", "target": "sec@example.com", "event_types": ["trigger.rejected"]},
    )
    assert subscribed.status_code == 201, subscribed.text

    response = signed_post(client, "orders", "not-the-secret-at-all", b'{"a": 1}')

    assert response.status_code == 401
    with api.sessions() as session:
        [rejected] = session.scalars(select(TriggerEvent)).all()
        [alert] = session.scalars(select(AlertDelivery)).all()
        # The channel hears it; the workflow's own lists do not (a stranger's bad
        # signature must not page the owners).
        assert (alert.event_type, alert.target, alert.channel_name, alert.run_id) == (
            "trigger.rejected",
            "sec@example.com",
            "security",
            None,
        )
        assert alert.payload["detail"]["trigger_event_id"] == rejected.id
        assert alert.payload["detail"]["source_name"] == "orders"
        assert rejected.verdict == "rejected"
    # Sent once committed: the delivery task is queued with the row's id.
    assert queued_tasks(api.redis, api.settings.queue_prefix) == [(DELIVER_ALERT, [alert.id])]

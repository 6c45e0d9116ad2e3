"""Notification destinations (``/api/2.0/notification-destinations``): the webhooks a
workspace posts job notifications to. Reads never return a destination's url, username
or password (only ``*_set`` flags), so a destination is found by its display name and
updated in place to make sure it says what we want."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.databricks.client import DatabricksClient
from service.databricks.retrying import Endpoint, Replay

_PATH = "/api/2.0/notification-destinations"
DESTINATIONS_LIST = Endpoint("GET", _PATH)
# No idempotency token: a create that may have landed is not replayed (see client.py).
DESTINATIONS_CREATE = Endpoint("POST", _PATH, Replay.UNSENT_ONLY)


@dataclass(frozen=True)
class GenericWebhook:
    url: str
    username: str
    password: str

    def config(self) -> dict[str, Any]:
        return {
            "generic_webhook": {
                "url": self.url,
                "username": self.username,
                "password": self.password,
            }
        }


def find_destination(client: DatabricksClient, display_name: str) -> str | None:
    page_token: str | None = None
    while True:
        page = client.call(DESTINATIONS_LIST, params={"page_token": page_token})
        for destination in page.get("results") or ():
            if destination.get("display_name") == display_name:
                return str(destination["id"])
        page_token = page.get("next_page_token") or None
        if page_token is None:
            return None


def create_destination(client: DatabricksClient, display_name: str, webhook: GenericWebhook) -> str:
    created = client.call(
        DESTINATIONS_CREATE, body={"display_name": display_name, "config": webhook.config()}
    )
    return str(created["id"])


def update_destination(
    client: DatabricksClient, destination_id: str, webhook: GenericWebhook
) -> None:
    client.call(Endpoint("PATCH", f"{_PATH}/{destination_id}"), body={"config": webhook.config()})

"""Notification hints: Lockgate registers itself as a notification destination of each
workspace and attaches it to the runs it starts, so Databricks tells it when a run ends
instead of Lockgate waiting for the next poll.

A hint is never trusted alone: the receiver only asks a worker to confirm the run with
one ``runs/get`` (`watching.record_hinted_run`), so a forged or stale hint changes
nothing. The poll sweep stays the safety net, at a slower pace while hints are on.

The destination posts to ``{public url}/hooks/databricks/{workspace}`` with HTTP Basic
credentials derived from ``LOCKGATE_DATABRICKS_HINT_SECRET`` and the workspace name, so
every Lockgate process can check them without sharing state.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from service.databricks import DatabricksClient, DatabricksError
from service.databricks.destinations import (
    GenericWebhook,
    create_destination,
    find_destination,
    update_destination,
)
from service.settings import Settings

log = logging.getLogger(__name__)

HINT_USERNAME = "lockgate"
# Endings are what polling waits for; a start is cheap to learn from the next sweep.
HINT_EVENTS = ("on_success", "on_failure")
MAX_DESTINATIONS_PER_EVENT = 3  # Databricks' limit per job (or task) and event
_RETRY_REFUSED_SECONDS = 600.0


def hints_enabled(settings: Settings) -> bool:
    return settings.databricks_hint_secret is not None


def hint_password(settings: Settings, workspace: str) -> str:
    secret = settings.databricks_hint_secret
    if secret is None:
        raise ValueError("notification hints are off (LOCKGATE_DATABRICKS_HINT_SECRET unset)")
    key = secret.get_secret_value().encode()
    return hmac.new(key, f"hint:{workspace}".encode(), hashlib.sha256).hexdigest()


def hint_credentials_valid(
    settings: Settings, workspace: str, username: str, password: str
) -> bool:
    if not hints_enabled(settings):
        return False
    expected = hint_password(settings, workspace)
    user_ok = hmac.compare_digest(username.encode(), HINT_USERNAME.encode())
    return user_ok & hmac.compare_digest(password.encode(), expected.encode())


def hint_webhook(settings: Settings, workspace: str) -> GenericWebhook:
    return GenericWebhook(
        url=f"{settings.lockgate_base_url.rstrip('/')}/hooks/databricks/{workspace}",
        username=HINT_USERNAME,
        password=hint_password(settings, workspace),
    )


def destination_name(settings: Settings, workspace: str) -> str:
    return f"lockgate {settings.queue_prefix} hints ({workspace})"


class HintDestinations:
    """The hint destination's id per workspace, found (and brought up to date) or made
    once per process. Making one needs workspace admin rights: where that is refused,
    runs go without hints (polling notices their ends) and it is tried again later."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ids: dict[str, str] = {}
        self._refused_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def resolve(self, client: DatabricksClient, workspace: str) -> str | None:
        with self._lock:
            known = self._ids.get(workspace)
            if known is not None or self._refused_until.get(workspace, 0.0) > time.monotonic():
                return known
        name = destination_name(self._settings, workspace)
        webhook = hint_webhook(self._settings, workspace)
        try:
            destination_id = find_destination(client, name)
            if destination_id is None:
                destination_id = create_destination(client, name, webhook)
            else:  # the URL or secret may have changed since it was made
                update_destination(client, destination_id, webhook)
        except DatabricksError as exc:
            log.warning("no hint destination in workspace %s, polling only: %s", workspace, exc)
            with self._lock:
                self._refused_until[workspace] = time.monotonic() + _RETRY_REFUSED_SECONDS
            return None
        with self._lock:
            self._ids[workspace] = destination_id
        return destination_id

    def expected_settings(
        self, client: DatabricksClient, workspace: str, job_settings: Mapping[str, Any]
    ) -> dict[str, Any]:
        """What a job deployed with hints says: the settings with the destination added,
        when the workspace has one (found, never made, by this read-only question)."""
        destination_id = self._ids.get(workspace) or find_destination(
            client, destination_name(self._settings, workspace)
        )
        if destination_id is None:
            return dict(job_settings)
        return with_hint_destination(job_settings, destination_id)


def with_hint_destination(job_settings: Mapping[str, Any], destination_id: str) -> dict[str, Any]:
    """The settings with the destination added to the run-level ending events, next to
    the user's own destinations (never replacing one). Where an event already has
    Databricks' maximum, it is left alone: polling still notices those endings."""
    settings = copy.deepcopy(dict(job_settings))
    notifications = dict(settings.get("webhook_notifications") or {})
    for event in HINT_EVENTS:
        targets = list(notifications.get(event) or [])
        if any(isinstance(t, Mapping) and t.get("id") == destination_id for t in targets):
            continue
        if len(targets) >= MAX_DESTINATIONS_PER_EVENT:
            log.info("no room for the hint destination on %s: polling notices it", event)
            continue
        notifications[event] = [*targets, {"id": destination_id}]
    settings["webhook_notifications"] = notifications
    return settings


def poll_interval(settings: Settings) -> float:
    """The poll sweep's pace: slower while hints are on, as the safety net for lost ones."""
    if hints_enabled(settings):
        return max(settings.poll_interval_seconds, settings.hinted_poll_interval_seconds)
    return settings.poll_interval_seconds

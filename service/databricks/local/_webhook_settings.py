"""``webhook_notifications``, ``notification_settings`` and ``health`` of a job, a task or a
one-time run: checked when the settings arrive, read back when a run changes state.

``webhook_notifications`` maps each event to a list of ``{"id": destination_id}``, at most
three per event (a 400 INVALID_PARAMETER_VALUE beyond, as on a workspace). Destination
ids are not looked up here: a workspace documents no such check, and a destination
deleted later would make the same settings fail anyway; the sender skips ids it does
not know. Keys other than the known events are left alone (newer event kinds).

The readers take settings that were checked on arrival (the raw settings a run keeps),
so they do not raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ._errors import invalid_parameter

MAX_DESTINATIONS_PER_EVENT = 3


class NotificationEvent(StrEnum):
    ON_START = "on_start"
    ON_SUCCESS = "on_success"
    ON_FAILURE = "on_failure"
    ON_DURATION_WARNING = "on_duration_warning_threshold_exceeded"
    ON_STREAMING_BACKLOG = "on_streaming_backlog_exceeded"  # accepted; never raised here

    @property
    def event_type(self) -> str:
        """The payload's ``event_type``: ``jobs.on_start`` ..."""
        return f"jobs.{self.value}"


@dataclass(frozen=True)
class NotificationSettings:
    """Job-level ``notification_settings``, or a task's (which adds alert_on_last_attempt)."""

    no_alert_for_skipped_runs: bool = False
    no_alert_for_canceled_runs: bool = False
    alert_on_last_attempt: bool = False


def check_webhook_notifications(settings: Mapping[str, Any], where: str) -> None:
    """A 400 for a malformed ``webhook_notifications`` in ``settings`` (a job, task or run)."""
    value = settings.get("webhook_notifications")
    if value is None:
        return
    path = _join(where, "webhook_notifications")
    if not isinstance(value, dict):
        raise invalid_parameter(f"{path} must be a JSON object")
    for event in NotificationEvent:
        items = value.get(event.value)
        if items is None:
            continue
        event_path = f"{path}.{event.value}"
        if not isinstance(items, list):
            raise invalid_parameter(f"{event_path} must be a JSON array")
        if len(items) > MAX_DESTINATIONS_PER_EVENT:
            raise invalid_parameter(
                f"{event_path}: at most {MAX_DESTINATIONS_PER_EVENT} notification destinations "
                f"can be specified per event, got {len(items)}"
            )
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
                raise invalid_parameter(
                    f'{event_path}[{index}] must be {{"id": "<notification destination id>"}}'
                )


def destination_ids(settings: Mapping[str, Any], event: NotificationEvent) -> tuple[str, ...]:
    """The destinations ``settings`` name for ``event``, each once, in order."""
    routes = settings.get("webhook_notifications")
    items = routes.get(event.value) if isinstance(routes, dict) else None
    if not isinstance(items, list):
        return ()
    ids = (item.get("id") for item in items if isinstance(item, dict))
    return tuple(dict.fromkeys(item for item in ids if isinstance(item, str) and item))


def notification_settings(settings: Mapping[str, Any]) -> NotificationSettings:
    value = settings.get("notification_settings")
    flags = value if isinstance(value, dict) else {}
    return NotificationSettings(
        no_alert_for_skipped_runs=flags.get("no_alert_for_skipped_runs") is True,
        no_alert_for_canceled_runs=flags.get("no_alert_for_canceled_runs") is True,
        alert_on_last_attempt=flags.get("alert_on_last_attempt") is True,
    )


def duration_warning_seconds(settings: Mapping[str, Any]) -> float | None:
    """The lowest ``RUN_DURATION_SECONDS`` ``GREATER_THAN`` threshold of ``health.rules``."""
    health = settings.get("health")
    rules = health.get("rules") if isinstance(health, dict) else None
    thresholds = [
        float(rule["value"])
        for rule in (rules if isinstance(rules, list) else [])
        if isinstance(rule, dict)
        and rule.get("metric") == "RUN_DURATION_SECONDS"
        and rule.get("op") == "GREATER_THAN"
        and isinstance(rule.get("value"), (int, float))
        and not isinstance(rule.get("value"), bool)
    ]
    return min(thresholds) if thresholds else None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key

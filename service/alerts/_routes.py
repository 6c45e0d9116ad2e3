"""Where routes come from: a workflow's own alerting settings, and named channels.

``WorkflowDefinition.alert_routes()`` gives the inline lists. The Databricks settings
that change *whether* to alert (``notification_settings``, a task's
``alert_on_last_attempt``, ``health`` rules, ``on_duration_warning_threshold_exceeded``)
are not modelled by the seed format, which keeps unknown keys with a warning; they are
read here, defensively, from the stored document, so a workflow imported from a job
keeps its alerting behaviour.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from service.policies.alerting import Route, WebhookFormat
from service.policies.inline_routes import inline_routes
from service.store.models.alerting import SubscriptionStatus
from service.store.repositories import alert_channels as channels_repo
from service.workflows import WorkflowInvalid, parse_workflow

_DURATION_LIST = "on_duration_warning_threshold_exceeded"


@dataclass(frozen=True)
class WorkflowAlerting:
    routes: tuple[Route, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    no_alert_for_skipped_runs: bool = False
    no_alert_for_canceled_runs: bool = False
    duration_limit_seconds: float | None = None


def workflow_alerting(source: Mapping[str, Any]) -> WorkflowAlerting:
    """Inline routes (workflow first, then each task's own) and alerting switches."""
    try:
        definition = parse_workflow(source)
    except WorkflowInvalid:
        # A stored workflow that no longer parses still has its named-channel subscribers.
        return WorkflowAlerting(tags=_tags(source))
    email, webhook = definition.alert_routes()
    email = {**email, _DURATION_LIST: _strings(_section(source, "notifications"), _DURATION_LIST)}
    webhook = {**webhook, _DURATION_LIST: _strings(_section(source, "webhooks"), _DURATION_LIST)}
    routes = list(inline_routes(email, webhook))
    tasks = {t.get("task_key"): t for t in source.get("tasks") or [] if isinstance(t, Mapping)}
    settings = _notification_settings(source)
    # A task's alert_on_last_attempt keeps its failed attempts from its own lists only
    # (Databricks' scope); set on the workflow, it is every task's default.
    every_task_last_only = settings.get("alert_on_last_attempt") is True
    for task_key, (task_email, task_webhook) in definition.task_alert_routes().items():
        task_settings = _section(tasks.get(task_key) or {}, "notification_settings")
        last_only = task_settings.get("alert_on_last_attempt", every_task_last_only) is True
        routes += inline_routes(
            task_email, task_webhook, task_key=task_key, alert_on_last_attempt=last_only
        )
    return WorkflowAlerting(
        routes=tuple(routes),
        tags=_tags(source),
        no_alert_for_skipped_runs=settings.get("no_alert_for_skipped_runs") is True,
        no_alert_for_canceled_runs=settings.get("no_alert_for_canceled_runs") is True,
        duration_limit_seconds=duration_limit(source),
    )


def duration_limit(source: Mapping[str, Any]) -> float | None:
    """The smallest ``RUN_DURATION_SECONDS GREATER_THAN`` value of the ``health`` rules."""
    limits = [
        float(rule["value"])
        for rule in _section(source, "health").get("rules") or []
        if isinstance(rule, Mapping)
        and rule.get("metric") == "RUN_DURATION_SECONDS"
        and rule.get("op", "GREATER_THAN") == "GREATER_THAN"
        and isinstance(rule.get("value"), int | float)
        and not isinstance(rule.get("value"), bool)
    ]
    return min(limits) if limits else None


def _notification_settings(source: Mapping[str, Any]) -> dict[str, Any]:
    # The guide puts no_alert_for_skipped_runs inside email_notifications; Databricks puts
    # it in notification_settings. Accept both, notification_settings winning.
    merged: dict[str, Any] = {}
    for key in ("email_notifications", "notifications", "notification_settings"):
        merged.update(_section(source, key))
    return merged


def _tags(source: Mapping[str, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in _section(source, "tags").items()}


def _section(source: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = source.get(key)
    return value if isinstance(value, Mapping) else {}


def _strings(section: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = section.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(str(v.get("id") if isinstance(v, Mapping) else v) for v in value if v)


def subscription_routes(session: Session) -> tuple[Route, ...]:
    """Every named channel's active subscriptions as routes; ``route`` narrows them per
    event. A pending one (an address that has not confirmed yet) hears nothing."""
    return tuple(
        Route(
            channel="email" if sub.kind == "email" else "webhook",
            target=sub.target,
            format=_format(sub.format) if sub.kind == "webhook" else "generic",
            event_types=frozenset(sub.event_types or ()),
            workflows=frozenset(sub.workflows or ()),
            workflow_tags={str(k): str(v) for k, v in (sub.workflow_tags or {}).items()},
            jobs=frozenset(str(job) for job in sub.jobs or ()),
            job_tags={str(k): str(v) for k, v in (sub.job_tags or {}).items()},
            channel_name=channel_name,
            subscription_id=sub.id,
        )
        for channel_name, sub in channels_repo.all_subscriptions(session)
        if sub.status == SubscriptionStatus.ACTIVE
    )


def _format(value: str) -> WebhookFormat:
    return "slack" if value == "slack" else "teams" if value == "teams" else "generic"

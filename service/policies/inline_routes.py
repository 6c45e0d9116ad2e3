"""A workflow's own notification lists as alert routes.

Which inline list (``on_start``, ``on_success``, ``on_failure``, the duration warning)
hears which event type is decided here, once, for the seed ``notifications`` /
``webhooks`` and Databricks' ``email_notifications`` / ``webhook_notifications`` alike;
``service.policies.alerting.route`` then treats these routes like any channel's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from service.policies.alerting import AlertChannel, Route

# What a workflow's inline lists (the seed ``notifications`` / ``webhooks`` and Databricks'
# ``email_notifications`` / ``webhook_notifications``) subscribe to. ``on_failure`` covers
# what Databricks sends there (failed, timed out, canceled, skipped) plus a missed
# expectation (the run that should have happened did not). ``run.retrying`` is left out
# at job level: Databricks does not alert job subscribers about retried task failures.
# ``run.retries_exhausted`` is left out too: the final failure reaches these lists, and
# its payload says the retries ran out (one alert, not two, for one failure).
# ``trigger.rejected`` reaches only named channels: a stranger's bad signature must not
# page the workflow's owners.
INLINE_EVENT_TYPES: Mapping[str, frozenset[str]] = {
    "on_start": frozenset({"run.started"}),
    "on_success": frozenset({"run.succeeded"}),
    "on_failure": frozenset(
        {
            "run.failed",
            "run.timed_out",
            "run.canceled",
            "run.skipped",
            "expectation.missed",
        }
    ),
    "on_duration_warning_threshold_exceeded": frozenset({"run.duration_warning"}),
}
# A task's own on_failure list also hears each failed attempt (Databricks' default), unless
# the task's ``alert_on_last_attempt`` says otherwise (``inline_routes``).
TASK_INLINE_EVENT_TYPES: Mapping[str, frozenset[str]] = {
    **INLINE_EVENT_TYPES,
    "on_failure": INLINE_EVENT_TYPES["on_failure"] | {"run.retrying"},
}


def inline_routes(
    email: Mapping[str, Sequence[str]],
    webhook: Mapping[str, Sequence[str]],
    *,
    task_key: str | None = None,
    alert_on_last_attempt: bool = False,
) -> tuple[Route, ...]:
    """A workflow's (or one task's) inline lists as routes, email first, in listed order.
    A task's lists hear its failed attempts (``run.retrying``) unless
    ``alert_on_last_attempt``: then, as at Databricks, only the run's final outcome."""
    retries = task_key is not None and not alert_on_last_attempt
    table = TASK_INLINE_EVENT_TYPES if retries else INLINE_EVENT_TYPES
    routes: list[Route] = []
    channels: tuple[tuple[AlertChannel, Mapping[str, Sequence[str]]], ...] = (
        ("email", email),
        ("webhook", webhook),
    )
    for channel, by_list in channels:
        for list_name, targets in by_list.items():
            event_types = table.get(list_name)
            if not event_types:
                continue
            routes += [
                Route(channel=channel, target=t, event_types=event_types, task_key=task_key)
                for t in targets
            ]
    return _merge_event_types(routes)


def _merge_event_types(routes: list[Route]) -> tuple[Route, ...]:
    """One route per target: an address on both on_start and on_failure is one route
    subscribed to both, so it keeps its place (first listing) in the order."""
    merged: dict[tuple[str, str, str | None], Route] = {}
    for candidate in routes:
        key = (candidate.channel, candidate.target.strip(), candidate.task_key)
        if key in merged:
            before = merged[key]
            merged[key] = Route(
                channel=before.channel,
                target=before.target,
                event_types=before.event_types | candidate.event_types,
                task_key=before.task_key,
            )
        else:
            merged[key] = candidate
    return tuple(merged.values())

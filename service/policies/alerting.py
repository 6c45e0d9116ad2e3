"""Alert routing: who hears about a finished run, on which channel, and what they are told.

``route(outcome, routes)`` is a pure function: it takes a finished run and a workflow's
subscriptions and returns one ``AlertRequest`` per (channel, target). The task around it
writes each request as its own delivery row; the channels in ``service.alerts`` only
deliver. Re-delivering a row never calls ``route`` again, so a changed subscription list
does not re-target an alert that was already decided.

Why the rules are what they are:

- Databricks' own semantics, so a workflow imported from a job behaves the same here:
  ``SUCCESS_WITH_FAILURES`` counts as a success (some tasks failed, but the run as a whole
  succeeded; the payload still lists the failed tasks), and canceled and skipped runs
  go to ``on_failure`` unless ``no_alert_for_canceled_runs`` / ``no_alert_for_skipped_runs``
  says otherwise.
- Canceled and skipped runs get their own event types (``run.canceled``, ``run.skipped``)
  while still using the ``on_failure`` subscribers: the people are the same, but a
  receiver that pages someone can tell "it broke" from "someone stopped it" or "it never
  started" without parsing result states.
- A result state this module does not know is alerted as a failure. Missing an alert is
  worse than an extra one, and Databricks adds states from time to time.
- Targets are deduplicated with their order kept: the same address listed twice (often
  through a merge of team lists) should get one message, and the first-listed target is
  attempted first.
- The payload is bounded (error text and the number of listed tasks are capped) because it
  is stored with every delivery row and sent in full to every target; a 1,000-task run
  with stack traces must not make a megabyte alert.

The caller decides *when* to call ``route``: only once a run is final, after the retry
policy gave up or succeeded (Databricks does not alert on task failures that are retried).
``on_start`` subscriptions are carried in ``AlertRoutes`` but not routed here: a start is
not a ``RunOutcome``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

AlertChannel = Literal["email", "webhook"]
AlertEventType = Literal["run.failed", "run.canceled", "run.skipped", "run.succeeded"]
RouteEvent = Literal["on_start", "on_success", "on_failure"]

SUCCESS_STATES = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})
CANCELED_STATES = frozenset({"CANCELED", "UPSTREAM_CANCELED"})
# Runs that never did their work: over max_concurrent_runs without a queue, a disabled
# job, or excluded by a condition. Databricks files these under "skipped".
SKIPPED_STATES = frozenset({"SKIPPED", "MAXIMUM_CONCURRENT_RUNS_REACHED", "EXCLUDED", "DISABLED"})
FAILURE_STATES = frozenset({"FAILED", "TIMEDOUT", "INTERNAL_ERROR", "UPSTREAM_FAILED"})

MAX_ERROR_CHARS = 2_000
MAX_LISTED_TASKS = 50
_TRUNCATION_MARK = "… [truncated]"


@dataclass(frozen=True)
class FailedTask:
    task_key: str
    result_state: str
    error: str | None


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    workflow_name: str
    event_id: str | None
    trigger_source: str | None
    result_state: str
    state_message: str | None
    databricks_run_id: int | None
    run_page_url: str | None
    started_at: datetime | None
    ended_at: datetime
    failed_tasks: tuple[FailedTask, ...] = ()


@dataclass(frozen=True)
class AlertRoutes:
    """A workflow's subscriptions: ``email`` from its ``notifications``, ``webhook`` from
    its ``webhooks``, each keyed by ``on_start`` / ``on_success`` / ``on_failure``."""

    email: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    webhook: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    no_alert_for_skipped_runs: bool = False
    no_alert_for_canceled_runs: bool = False


@dataclass(frozen=True)
class AlertRequest:
    channel: AlertChannel
    target: str
    event_type: str
    payload: dict[str, Any]


def route(outcome: RunOutcome, routes: AlertRoutes) -> list[AlertRequest]:
    """Return the alerts a finished run must send, email targets first, in listed order."""
    decision = _classify(outcome.result_state, routes)
    if decision is None:
        return []
    event_type, route_event = decision
    channels: tuple[tuple[AlertChannel, Mapping[str, tuple[str, ...]]], ...] = (
        ("email", routes.email),
        ("webhook", routes.webhook),
    )
    requests: list[AlertRequest] = []
    for channel, by_event in channels:
        for target in _unique_targets(by_event.get(route_event, ())):
            requests.append(
                AlertRequest(
                    channel=channel,
                    target=target,
                    event_type=event_type,
                    # A fresh dict per request: requests are stored and sent independently.
                    payload=build_payload(outcome, event_type),
                )
            )
    return requests


def _classify(result_state: str, routes: AlertRoutes) -> tuple[AlertEventType, RouteEvent] | None:
    state = result_state.upper()
    if state in SUCCESS_STATES:
        return "run.succeeded", "on_success"
    if state in CANCELED_STATES:
        return None if routes.no_alert_for_canceled_runs else ("run.canceled", "on_failure")
    if state in SKIPPED_STATES:
        return None if routes.no_alert_for_skipped_runs else ("run.skipped", "on_failure")
    # FAILURE_STATES and anything unknown: alert rather than stay silent.
    return "run.failed", "on_failure"


def _unique_targets(targets: Iterable[str]) -> tuple[str, ...]:
    cleaned = (target.strip() for target in targets)
    return tuple(dict.fromkeys(target for target in cleaned if target))


def build_payload(outcome: RunOutcome, event_type: str) -> dict[str, Any]:
    """The JSON-serialisable alert body shared by every channel (see module docstring)."""
    started, ended = outcome.started_at, outcome.ended_at
    duration = (ended - started).total_seconds() if started is not None else None
    return {
        "event_type": event_type,
        "workflow": {"name": outcome.workflow_name},
        "run": {
            "id": outcome.run_id,
            "result_state": outcome.result_state,
            "state_message": _truncate(outcome.state_message),
            "databricks_run_id": outcome.databricks_run_id,
            "run_page_url": outcome.run_page_url,
            "started_at": started.isoformat() if started is not None else None,
            "ended_at": ended.isoformat(),
            "duration_seconds": duration,
        },
        "trigger": {"source": outcome.trigger_source, "event_id": outcome.event_id},
        "failed_task_count": len(outcome.failed_tasks),
        "failed_tasks": [
            {
                "task_key": task.task_key,
                "result_state": task.result_state,
                "error": _truncate(task.error),
            }
            for task in outcome.failed_tasks[:MAX_LISTED_TASKS]
        ],
    }


def _truncate(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR_CHARS:
        return text
    return text[: MAX_ERROR_CHARS - len(_TRUNCATION_MARK)] + _TRUNCATION_MARK

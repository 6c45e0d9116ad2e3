"""Alert routing: which targets hear about an event, and whether it is new or a repeat.

``route(event, routes, history)`` is pure: an event, every route that could apply (the
workflow's own inline notifications and the subscriptions of named channels), and the
recent alerts already decided; out comes one ``AlertRequest`` per target. The caller
writes each request as a delivery row; the channels in ``service.alerts`` only deliver,
and re-delivering a row never calls ``route`` again.

Why the rules are what they are:

- Databricks' own notification semantics, so a workflow imported from a job behaves the
  same here: ``no_alert_for_skipped_runs`` / ``no_alert_for_canceled_runs`` silence those
  events for the workflow (every route, not just inline ones: the workflow's owner said
  these are not news). ``alert_on_last_attempt`` is a task's setting, as at Databricks:
  it keeps ``run.retrying`` from that task's own lists (``policies.inline_routes``), and
  from no one else's: a named channel that subscribed to retries asked for them. Which inline
  list (``on_failure`` ...) receives which event type is decided where routes are built
  (``policies.inline_routes.INLINE_EVENT_TYPES``).
- A final failure after retries is one alert per target: the engine reports it as the
  final event (``run.failed``, ``run.timed_out``), whose payload says the retries ran
  out, and as ``run.retries_exhausted`` with ``covered_by`` naming the final event, so
  only a target that does not hear the final event (a channel subscribed to
  ``run.retries_exhausted`` alone) is told the second one.
- Task-level routes (a task's own ``email_notifications``) hear about failures only when
  their task is among the failing ones: a team that owns one task is not paged for
  another's.
- Dedupe: the same workflow + event type + failing tasks (the ``alert_key``) to the same
  target within ``dedupe_window`` of an alert becomes a count on that alert, not a new
  message. The window runs from the alert, not from the last repeat, so a workflow that
  keeps failing is re-announced once per window, with the number of repeats since.
- Throttle: at most ``throttle_limit`` alerts per target and workflow within
  ``throttle_window``, whatever their keys: a flapping workflow (fail, succeed, fail ...)
  does not flood a channel. Repeats beyond the limit fold into the latest alert, with
  one exception: bad news (``ALARM_EVENT_TYPES``) is never throttled when the latest
  alert that target got for the workflow was not bad news, so a target that was last
  told "succeeded" hears that the workflow is failing now. The flood stays bounded: once
  that alarm is the latest alert, further ones fold like any other.
- Databricks jobs Lockgate did not start (seen by the workspace watcher) reach ONLY
  routes that name jobs (``jobs``: ids or names) or job tags (``job_tags``): a workspace
  runs thousands of jobs nobody here asked about, and a channel subscribed to
  "everything" means everything Lockgate does, not every job of the workspace. The other
  way round, a route that names jobs hears no workflow events unless it also names
  workflows or workflow tags that match: "tell me about job 123" is not "and about every
  workflow". A route naming both hears each kind by its own selectors.
- Where an event has no workflow, its job stands in for it in the dedupe key and the
  throttle: a job that keeps failing is folded like a workflow that does, and one noisy
  job does not use up the throttle of another.
- Nothing here reads a clock: ``event.occurred_at`` is the only "now".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

AlertChannel = Literal["email", "webhook"]
WebhookFormat = Literal["generic", "slack", "teams"]
FoldReason = Literal["duplicate", "throttled"]

RUN_EVENT_TYPES: tuple[str, ...] = (
    "run.started",
    "run.succeeded",
    "run.failed",
    "run.timed_out",
    "run.canceled",
    "run.skipped",
    "run.retrying",
    "run.retries_exhausted",
    "run.duration_warning",
)
OTHER_EVENT_TYPES: tuple[str, ...] = ("expectation.missed", "trigger.rejected")
EVENT_TYPES: tuple[str, ...] = RUN_EVENT_TYPES + OTHER_EVENT_TYPES

# Events that name failing tasks; a task-level route hears them only for its own task.
FAILURE_EVENT_TYPES = frozenset(
    {"run.failed", "run.timed_out", "run.retrying", "run.retries_exhausted"}
)
# Bad news: what the throttle never hides behind an earlier alert that said otherwise.
ALARM_EVENT_TYPES = FAILURE_EVENT_TYPES | {"expectation.missed"}


@dataclass(frozen=True)
class AlertEvent:
    """Something happened. ``occurrence`` identifies this happening (run + attempt, or a
    trigger event id): the same occurrence reported twice must alert nobody twice."""

    event_type: str
    occurrence: str
    occurred_at: datetime
    workflow_name: str | None = None
    workflow_tags: Mapping[str, str] = field(default_factory=dict)
    failing_tasks: tuple[str, ...] = ()
    # Event types reported for the same occurrence alongside this one: a target that
    # hears any of them is not told this one too (run.retries_exhausted beside the
    # final run.failed).
    covered_by: frozenset[str] = frozenset()
    # A Databricks job's run (set with no workflow: a job Lockgate did not start).
    job_id: str | None = None
    job_name: str | None = None
    job_tags: Mapping[str, str] = field(default_factory=dict)
    workspace: str | None = None

    @property
    def job_key(self) -> str | None:
        """The job's identity across workspaces, for dedupe and throttle (None: no job)."""
        if self.job_id is None:
            return None
        return f"{self.workspace or ''}/{self.job_id}"

    @property
    def about_job_only(self) -> bool:
        """A job's run that is not a Lockgate workflow's: only job selectors hear it."""
        return self.workflow_name is None and self.job_id is not None


@dataclass(frozen=True)
class Route:
    """One target and what it wants to hear; empty narrowing sets mean "everything"."""

    channel: AlertChannel
    target: str
    format: WebhookFormat = "generic"
    event_types: frozenset[str] = frozenset()
    workflows: frozenset[str] = frozenset()
    workflow_tags: Mapping[str, str] = field(default_factory=dict)
    channel_name: str | None = None  # None: the workflow's own inline notifications
    subscription_id: str | None = None
    task_key: str | None = None  # a task-level inline route
    jobs: frozenset[str] = frozenset()  # Databricks job ids or names
    job_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def names_jobs(self) -> bool:
        return bool(self.jobs or self.job_tags)

    @property
    def names_workflows(self) -> bool:
        return bool(self.workflows or self.workflow_tags)


@dataclass(frozen=True)
class AlertRoutes:
    routes: tuple[Route, ...] = ()
    no_alert_for_skipped_runs: bool = False
    no_alert_for_canceled_runs: bool = False
    dedupe_window: timedelta = timedelta(minutes=15)
    throttle_window: timedelta = timedelta(hours=1)
    throttle_limit: int = 10


@dataclass(frozen=True)
class PastAlert:
    """An alert already decided (not a suppressed repeat), as ``route`` needs to see it."""

    delivery_id: str
    channel: AlertChannel
    target: str
    alert_key: str
    workflow_name: str | None
    created_at: datetime
    sent: bool
    unsent_occurrences: int = 0
    # What that alert said, for the throttle's turn-to-bad-news rule (None: not known,
    # and the rule does not apply).
    event_type: str | None = None
    job_key: str | None = None  # ``AlertEvent.job_key`` of an alert about a job's run


@dataclass(frozen=True)
class AlertRequest:
    channel: AlertChannel
    target: str
    format: WebhookFormat
    event_type: str
    alert_key: str
    dedupe_key: str
    channel_name: str | None = None
    subscription_id: str | None = None
    # Set when this is a repeat: count it on that delivery instead of sending.
    folded_into: str | None = None
    fold_reason: FoldReason | None = None
    # Repeats counted on the previous alert for this key after it was sent.
    suppressed_since_last: int = 0


def route(
    event: AlertEvent, routes: AlertRoutes, history: Sequence[PastAlert] = ()
) -> list[AlertRequest]:
    """One request per distinct (channel, target, format), in the order routes are given."""
    if _silenced(event.event_type, routes):
        return []
    alert_key = compute_alert_key(event)
    requests: list[AlertRequest] = []
    seen: set[tuple[str, str, str]] = _covered(event, routes)
    for candidate in routes.routes:
        target = candidate.target.strip()
        identity = (candidate.channel, target, candidate.format)
        if not target or identity in seen or not matches(candidate, event):
            continue
        seen.add(identity)
        requests.append(_decide(event, candidate, target, alert_key, history, routes))
    return requests


def _covered(event: AlertEvent, routes: AlertRoutes) -> set[tuple[str, str, str]]:
    """Targets that hear an event of ``event.covered_by`` (by any of their routes)."""
    covered: set[tuple[str, str, str]] = set()
    for event_type in event.covered_by:
        if _silenced(event_type, routes):
            continue
        other = replace(event, event_type=event_type, covered_by=frozenset())
        covered.update(
            (candidate.channel, candidate.target.strip(), candidate.format)
            for candidate in routes.routes
            if matches(candidate, other)
        )
    return covered


def matches(candidate: Route, event: AlertEvent) -> bool:
    if candidate.event_types and event.event_type not in candidate.event_types:
        return False
    if event.about_job_only:
        return candidate.names_jobs and _job_matches(candidate, event)
    if candidate.names_jobs and not candidate.names_workflows:
        return False  # it asked for jobs, not for "every workflow"
    if candidate.workflows and event.workflow_name not in candidate.workflows:
        return False
    if not _tags_match(candidate.workflow_tags, event.workflow_tags):
        return False
    if candidate.task_key is not None and event.event_type in FAILURE_EVENT_TYPES:
        return candidate.task_key in event.failing_tasks
    return True


def _job_matches(candidate: Route, event: AlertEvent) -> bool:
    # A job is named by its id or by its name; both are strings here.
    if candidate.jobs and not (event.job_id in candidate.jobs or event.job_name in candidate.jobs):
        return False
    return _tags_match(candidate.job_tags, event.job_tags)


def _tags_match(wanted_tags: Mapping[str, str], tags: Mapping[str, str]) -> bool:
    for tag, wanted in wanted_tags.items():
        # A value of "*" asks only that the tag be present.
        value = tags.get(tag)
        if value is None or (wanted != "*" and value != wanted):
            return False
    return True


def compute_alert_key(event: AlertEvent) -> str:
    """What "the same alert" means for dedupe: workflow (or, without one, the job) + event
    type + failing tasks."""
    job_key = event.job_key
    subject = event.workflow_name or (f"job:{job_key}" if job_key else "")
    basis = "\x1f".join([subject, event.event_type, *sorted(set(event.failing_tasks))])
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def compute_dedupe_key(event: AlertEvent, candidate: Route, target: str) -> str:
    """Unique per occurrence and target: what makes emitting twice harmless."""
    basis = "\x1f".join(
        [event.occurrence, event.event_type, candidate.channel, target, candidate.format]
    )
    return hashlib.sha256(basis.encode()).hexdigest()[:64]


def _silenced(event_type: str, routes: AlertRoutes) -> bool:
    return (event_type == "run.skipped" and routes.no_alert_for_skipped_runs) or (
        event_type == "run.canceled" and routes.no_alert_for_canceled_runs
    )


def _decide(
    event: AlertEvent,
    candidate: Route,
    target: str,
    alert_key: str,
    history: Sequence[PastAlert],
    routes: AlertRoutes,
) -> AlertRequest:
    same_target = [
        past
        for past in history
        if past.channel == candidate.channel
        and past.target == target
        and past.created_at <= event.occurred_at
    ]
    same_key = _latest(p for p in same_target if p.alert_key == alert_key)
    folded_into: str | None = None
    reason: FoldReason | None = None
    if same_key is not None and event.occurred_at - same_key.created_at < routes.dedupe_window:
        folded_into, reason = same_key.delivery_id, "duplicate"
    else:
        recent = [
            p
            for p in same_target
            if _same_subject(p, event) and event.occurred_at - p.created_at < routes.throttle_window
        ]
        if routes.throttle_limit > 0 and len(recent) >= routes.throttle_limit:
            latest = _latest(recent)
            assert latest is not None  # recent is not empty
            if not _turns_bad(event.event_type, latest.event_type):
                folded_into, reason = latest.delivery_id, "throttled"
    return AlertRequest(
        channel=candidate.channel,
        target=target,
        format=candidate.format,
        event_type=event.event_type,
        alert_key=alert_key,
        dedupe_key=compute_dedupe_key(event, candidate, target),
        channel_name=candidate.channel_name,
        subscription_id=candidate.subscription_id,
        folded_into=folded_into,
        fold_reason=reason,
        suppressed_since_last=(
            same_key.unsent_occurrences if same_key is not None and folded_into is None else 0
        ),
    )


def _same_subject(past: PastAlert, event: AlertEvent) -> bool:
    """The same workflow; without a workflow, the same job (or both about neither)."""
    if past.workflow_name != event.workflow_name:
        return False
    return event.workflow_name is not None or past.job_key == event.job_key


def _turns_bad(event_type: str, latest_event_type: str | None) -> bool:
    """Bad news after an alert that was not: the throttle must let it through."""
    return (
        event_type in ALARM_EVENT_TYPES
        and latest_event_type is not None
        and latest_event_type not in ALARM_EVENT_TYPES
    )


def _latest(alerts: Iterable[PastAlert]) -> PastAlert | None:
    return max(alerts, key=lambda p: (p.created_at, p.delivery_id), default=None)


def duration_exceeded(
    *, started_at: datetime | None, limit_seconds: float | None, now: datetime
) -> float | None:
    """Seconds a running run has been running, if that is past its health limit
    (``RUN_DURATION_SECONDS GREATER_THAN limit``); None otherwise.

    The poller calls this for each active run on every sweep and emits
    ``run.duration_warning`` when it returns a number; emitting is idempotent per run
    attempt, so a warning is sent once however many sweeps see it.
    """
    if started_at is None or limit_seconds is None:
        return None
    elapsed = (now - started_at).total_seconds()
    return elapsed if elapsed > limit_seconds else None

"""The pure routing policy: matching, Databricks' switches, dedupe and throttle windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.policies.alerting import (
    AlertEvent,
    AlertRoutes,
    PastAlert,
    Route,
    compute_alert_key,
    duration_exceeded,
    route,
)
from service.policies.inline_routes import inline_routes

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def event(event_type: str = "run.failed", **overrides: object) -> AlertEvent:
    values: dict[str, object] = {
        "event_type": event_type,
        "occurrence": "run:r1:1",
        "occurred_at": T0,
        "workflow_name": "etl",
        "workflow_tags": {"team": "data", "tier": "gold"},
        "failing_tasks": ("load",),
    }
    values.update(overrides)
    return AlertEvent(**values)  # type: ignore[arg-type]


INLINE = inline_routes(
    {"on_start": ["start@x.com"], "on_success": ["ok@x.com"], "on_failure": ["fail@x.com"]},
    {"on_failure": ["https://hooks.example.com/f"]},
)


@pytest.mark.parametrize(
    ("event_type", "targets"),
    [
        ("run.started", ["start@x.com"]),
        ("run.succeeded", ["ok@x.com"]),
        ("run.failed", ["fail@x.com", "https://hooks.example.com/f"]),
        ("run.timed_out", ["fail@x.com", "https://hooks.example.com/f"]),
        ("run.canceled", ["fail@x.com", "https://hooks.example.com/f"]),
        ("run.skipped", ["fail@x.com", "https://hooks.example.com/f"]),
        ("expectation.missed", ["fail@x.com", "https://hooks.example.com/f"]),
        # Not for the workflow's own lists: retried failures (Databricks doesn't either),
        # retries running out (the final failure tells them, once), rejected triggers
        # (strangers could page the owners) and duration warnings (Databricks has its own
        # list for those).
        ("run.retrying", []),
        ("run.retries_exhausted", []),
        ("trigger.rejected", []),
        ("run.duration_warning", []),
    ],
)
def test_inline_lists_map_to_event_types(event_type: str, targets: list[str]) -> None:
    requests = route(event(event_type), AlertRoutes(routes=INLINE))
    assert [r.target for r in requests] == targets
    assert all(r.folded_into is None and r.event_type == event_type for r in requests)


@pytest.mark.parametrize(
    ("switches", "event_type", "alerted"),
    [
        ({"no_alert_for_skipped_runs": True}, "run.skipped", False),
        ({"no_alert_for_skipped_runs": True}, "run.failed", True),
        ({"no_alert_for_canceled_runs": True}, "run.canceled", False),
        ({"no_alert_for_canceled_runs": True}, "run.skipped", True),
        ({}, "run.retrying", True),
    ],
)
def test_databricks_switches(switches: dict[str, bool], event_type: str, alerted: bool) -> None:
    everything = Route(channel="email", target="all@x.com", channel_name="ops")
    routes = AlertRoutes(routes=(everything,), **switches)  # type: ignore[arg-type]
    assert bool(route(event(event_type), routes)) is alerted


@pytest.mark.parametrize(
    ("narrowing", "matches"),
    [
        ({}, True),
        ({"event_types": frozenset({"run.failed"})}, True),
        ({"event_types": frozenset({"run.succeeded"})}, False),
        ({"workflows": frozenset({"etl"})}, True),
        ({"workflows": frozenset({"ml"})}, False),
        ({"workflow_tags": {"team": "data"}}, True),
        ({"workflow_tags": {"team": "data", "tier": "gold"}}, True),
        ({"workflow_tags": {"team": "ml"}}, False),
        ({"workflow_tags": {"tier": "*"}}, True),
        ({"workflow_tags": {"owner": "*"}}, False),
    ],
)
def test_subscriptions_narrow_by_event_workflow_and_tags(
    narrowing: dict[str, object], matches: bool
) -> None:
    subscription = Route(channel="webhook", target="https://h.example.com", **narrowing)  # type: ignore[arg-type]
    assert bool(route(event(), AlertRoutes(routes=(subscription,)))) is matches


def test_task_routes_hear_only_their_own_task_failing() -> None:
    task_routes = inline_routes(
        {"on_failure": ["load-team@x.com"]}, {}, task_key="load"
    ) + inline_routes({"on_failure": ["clean-team@x.com"]}, {}, task_key="clean")
    routes = AlertRoutes(routes=task_routes)
    assert [r.target for r in route(event(), routes)] == ["load-team@x.com"]
    # A task's own list hears each failed attempt unless alert_on_last_attempt is set.
    assert [r.target for r in route(event("run.retrying"), routes)] == ["load-team@x.com"]
    last_only = inline_routes(
        {"on_failure": ["load-team@x.com"]}, {}, task_key="load", alert_on_last_attempt=True
    )
    assert route(event("run.retrying"), AlertRoutes(routes=last_only)) == []
    assert [r.target for r in route(event(), AlertRoutes(routes=last_only))] == ["load-team@x.com"]


def test_alert_on_last_attempt_keeps_retries_from_the_tasks_own_lists_only() -> None:
    """Databricks' scope: the task's recipients wait for the last attempt; a channel that
    subscribed to retries, and another task's list, still hear them."""
    routes = AlertRoutes(
        routes=(
            *inline_routes(
                {"on_failure": ["load-team@x.com"]}, {}, task_key="load", alert_on_last_attempt=True
            ),
            *inline_routes({"on_failure": ["clean-team@x.com"]}, {}, task_key="clean"),
            Route(
                channel="webhook",
                target="https://hooks.example.com/retries",
                event_types=frozenset({"run.retrying"}),
                channel_name="ops",
            ),
        )
    )
    retrying = event("run.retrying", failing_tasks=("load", "clean"))
    assert [r.target for r in route(retrying, routes)] == [
        "clean-team@x.com",
        "https://hooks.example.com/retries",
    ]


FINAL = frozenset({"run.failed"})


@pytest.mark.parametrize(
    ("subscribed", "told_exhausted"),
    [
        (frozenset(), False),  # everything: the final failure told it, once
        (frozenset({"run.failed", "run.retries_exhausted"}), False),
        (frozenset({"run.retries_exhausted"}), True),  # only this: it hears it
        (frozenset({"run.succeeded"}), False),  # neither
    ],
)
def test_retries_exhausted_reaches_only_targets_the_final_failure_did_not(
    subscribed: frozenset[str], told_exhausted: bool
) -> None:
    subscription = Route(
        channel="email", target="ops@x.com", event_types=subscribed, channel_name="ops"
    )
    routes = AlertRoutes(routes=(*INLINE, subscription))
    final_targets = [r.target for r in route(event("run.failed"), routes)]
    exhausted = route(event("run.retries_exhausted", covered_by=FINAL), routes)
    assert [r.target for r in exhausted] == (["ops@x.com"] if told_exhausted else [])
    # One failure, at most one alert per target across the two events.
    every = final_targets + [r.target for r in exhausted]
    assert len(every) == len(set(every))


def test_a_target_covered_by_any_of_its_routes_is_not_told_twice() -> None:
    # The same address on the workflow's on_failure list and on a channel subscribed to
    # run.retries_exhausted alone: the list told it about the failure.
    routes = AlertRoutes(
        routes=(
            *INLINE,
            Route(
                channel="email",
                target="fail@x.com",
                event_types=frozenset({"run.retries_exhausted"}),
                channel_name="ops",
            ),
        )
    )
    assert route(event("run.retries_exhausted", covered_by=FINAL), routes) == []


def test_one_request_per_target_even_when_listed_twice() -> None:
    routes = AlertRoutes(
        routes=(
            *inline_routes(
                {"on_failure": ["a@x.com", " a@x.com", ""], "on_start": ["a@x.com"]}, {}
            ),
            Route(channel="email", target="a@x.com", channel_name="ops"),
        )
    )
    requests = route(event(), routes)
    assert [(r.target, r.channel_name) for r in requests] == [("a@x.com", None)]
    assert {r.event_type for r in route(event("run.started"), routes)} == {"run.started"}


def past(
    delivery_id: str,
    *,
    at: datetime,
    key_event: AlertEvent | None = None,
    target: str = "a@x.com",
    sent: bool = True,
    unsent: int = 0,
    workflow: str = "etl",
) -> PastAlert:
    return PastAlert(
        delivery_id=delivery_id,
        channel="email",
        target=target,
        alert_key=compute_alert_key(key_event or event()),
        workflow_name=workflow,
        created_at=at,
        sent=sent,
        unsent_occurrences=unsent,
    )


EMAIL = AlertRoutes(
    routes=(Route(channel="email", target="a@x.com"),),
    dedupe_window=timedelta(minutes=15),
    throttle_window=timedelta(hours=1),
    throttle_limit=3,
)


@pytest.mark.parametrize(
    ("age", "folded"),
    [
        (timedelta(minutes=1), True),
        (timedelta(minutes=14, seconds=59), True),
        (timedelta(minutes=15), False),  # the window runs from the alert, not the repeat
        (timedelta(hours=2), False),
    ],
)
def test_dedupe_window(age: timedelta, folded: bool) -> None:
    history = [past("d1", at=T0 - age)]
    [request] = route(event(), EMAIL, history)
    assert (request.folded_into == "d1") is folded
    assert request.fold_reason == ("duplicate" if folded else None)


def test_dedupe_is_per_failing_tasks_and_per_target() -> None:
    history = [past("d1", at=T0 - timedelta(minutes=1))]
    [other_task] = route(event(failing_tasks=("clean",)), EMAIL, history)
    assert other_task.folded_into is None
    elsewhere = AlertRoutes(routes=(Route(channel="email", target="b@x.com"),))
    [other_target] = route(event(), elsewhere, history)
    assert other_target.folded_into is None
    # Task order does not make a different alert.
    two = event(failing_tasks=("b", "a"))
    history = [past("d2", at=T0 - timedelta(minutes=1), key_event=event(failing_tasks=("a", "b")))]
    assert route(two, EMAIL, history)[0].folded_into == "d2"


def test_the_next_alert_after_the_window_counts_what_was_folded() -> None:
    history = [past("d1", at=T0 - timedelta(minutes=20), unsent=4)]
    [request] = route(event(), EMAIL, history)
    assert request.folded_into is None
    assert request.suppressed_since_last == 4


def test_throttle_stops_a_flapping_workflow_flooding_a_target() -> None:
    # Failing and succeeding in turn: no two alerts share a key, so dedupe does nothing.
    flapping = [
        past(f"d{i}", at=T0 - timedelta(minutes=50 - 10 * i), key_event=event(f"run.{kind}"))
        for i, kind in enumerate(["failed", "succeeded", "failed"])
    ]
    routes = AlertRoutes(
        routes=(Route(channel="email", target="a@x.com"),),
        dedupe_window=timedelta(minutes=5),
        throttle_window=timedelta(hours=1),
        throttle_limit=3,
    )
    [request] = route(event("run.succeeded"), routes, flapping)
    assert (request.folded_into, request.fold_reason) == ("d2", "throttled")
    # Another workflow to the same target is not throttled by this one.
    [other] = route(event("run.succeeded", workflow_name="ml"), routes, flapping)
    assert other.folded_into is None
    # Once the oldest leaves the window, alerts flow again.
    later = event("run.succeeded", occurred_at=T0 + timedelta(minutes=11))
    assert route(later, routes, flapping)[0].folded_into is None
    # throttle_limit 0 turns throttling off.
    unlimited = AlertRoutes(routes=routes.routes, dedupe_window=timedelta(0), throttle_limit=0)
    assert route(event("run.succeeded"), unlimited, flapping)[0].folded_into is None


def kinds(*event_types: str) -> list[PastAlert]:
    """Alerts to a@x.com for workflow etl, oldest first, one every ten minutes up to T0."""
    count = len(event_types)
    return [
        PastAlert(
            delivery_id=f"d{i}",
            channel="email",
            target="a@x.com",
            alert_key=compute_alert_key(event(kind)),
            workflow_name="etl",
            created_at=T0 - timedelta(minutes=10 * (count - i)),
            sent=True,
            event_type=kind,
        )
        for i, kind in enumerate(event_types)
    ]


THROTTLED = AlertRoutes(
    routes=(Route(channel="email", target="a@x.com"),),
    dedupe_window=timedelta(minutes=5),
    throttle_window=timedelta(hours=1),
    throttle_limit=2,
)


@pytest.mark.parametrize(
    ("history", "event_type", "throttled"),
    [
        # Last told "succeeded": a failure now is news, whatever the limit says.
        (["run.failed", "run.succeeded"], "run.failed", False),
        (["run.failed", "run.succeeded"], "run.timed_out", False),
        (["run.failed", "run.succeeded"], "run.retrying", False),
        (["run.failed", "run.started"], "expectation.missed", False),
        # Last told bad news: more of it folds (the flood stays bounded).
        (["run.succeeded", "run.failed"], "run.timed_out", True),
        (["run.succeeded", "run.failed"], "run.failed", True),
        # Good news is throttled either way.
        (["run.failed", "run.succeeded"], "run.started", True),
        (["run.succeeded", "run.failed"], "run.succeeded", True),
    ],
)
def test_the_throttle_never_hides_a_turn_to_failure(
    history: list[str], event_type: str, throttled: bool
) -> None:
    [request] = route(event(event_type, failing_tasks=("other",)), THROTTLED, kinds(*history))
    assert (request.fold_reason == "throttled") is throttled
    assert request.folded_into == ("d1" if throttled else None)


def test_a_flapping_workflow_is_still_bounded() -> None:
    """Fail, succeed, fail ... for two hours at limit 2: what reaches the target."""
    history: list[PastAlert] = []
    sent: list[str] = []
    for minute in range(0, 120, 5):
        kind = "run.failed" if (minute // 5) % 2 == 0 else "run.succeeded"
        now = T0 + timedelta(minutes=minute)
        flap = event(kind, occurred_at=now, occurrence=f"run:{minute}")
        [request] = route(flap, THROTTLED, history)
        if request.folded_into is None:
            sent.append(f"{minute} {kind}")
            history.append(
                PastAlert(
                    delivery_id=f"d{minute}",
                    channel="email",
                    target="a@x.com",
                    alert_key=request.alert_key,
                    workflow_name="etl",
                    created_at=now,
                    sent=True,
                    event_type=kind,
                )
            )
    # The limit (2), plus the turn back to failure after the last "succeeded" sent: at
    # most one alert over the limit per window, and the target's last word is "failed".
    assert sent == [
        "0 run.failed",
        "5 run.succeeded",
        "10 run.failed",
        "65 run.succeeded",
        "70 run.failed",
    ]


def test_same_occurrence_same_dedupe_key_new_attempt_new_key() -> None:
    [first] = route(event(), EMAIL)
    [again] = route(event(), EMAIL)
    [retried] = route(event(occurrence="run:r1:2"), EMAIL)
    assert first.dedupe_key == again.dedupe_key != retried.dedupe_key


@pytest.mark.parametrize(
    ("started", "limit", "expected"),
    [
        (None, 60.0, None),
        (T0 - timedelta(seconds=30), None, None),
        (T0 - timedelta(seconds=60), 60.0, None),  # GREATER_THAN, not at
        (T0 - timedelta(seconds=61), 60.0, 61.0),
    ],
)
def test_duration_exceeded(
    started: datetime | None, limit: float | None, expected: float | None
) -> None:
    assert duration_exceeded(started_at=started, limit_seconds=limit, now=T0) == expected

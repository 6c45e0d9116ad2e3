"""The routing policy for Databricks jobs: who hears a job Lockgate did not start, who
does not, and how its repeats are folded (by the job, since it has no workflow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.policies.alerting import (
    AlertEvent,
    AlertRoutes,
    PastAlert,
    Route,
    compute_alert_key,
    matches,
    route,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def job_event(event_type: str = "run.failed", **overrides: object) -> AlertEvent:
    """A failed run of job 123 ("billing-export") that Lockgate did not start."""
    values: dict[str, object] = {
        "event_type": event_type,
        "occurrence": "job-run:default:9001:0",
        "occurred_at": T0,
        "failing_tasks": ("extract",),
        "job_id": "123",
        "job_name": "billing-export",
        "job_tags": {"team": "finance", "tier": "gold"},
        "workspace": "default",
    }
    values.update(overrides)
    return AlertEvent(**values)  # type: ignore[arg-type]


def workflow_event(event_type: str = "run.failed") -> AlertEvent:
    return AlertEvent(
        event_type=event_type,
        occurrence="run:r1:1",
        occurred_at=T0,
        workflow_name="etl",
        workflow_tags={"team": "finance"},
        failing_tasks=("load",),
    )


def sub(**narrowing: object) -> Route:
    return Route(channel="webhook", target="https://hooks.example.com/x", **narrowing)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("candidate", "hears_job", "hears_workflow"),
    [
        # Subscribed to "everything": every workflow, but not every job of the workspace.
        (sub(), False, True),
        (sub(event_types=frozenset({"run.failed"})), False, True),
        (sub(workflow_tags={"team": "finance"}), False, True),
        # Naming jobs: by id, by name, by tag (exact, or "*" for present).
        (sub(jobs=frozenset({"123"})), True, False),
        (sub(jobs=frozenset({"billing-export"})), True, False),
        (sub(jobs=frozenset({"456", "123"})), True, False),
        (sub(job_tags={"team": "finance"}), True, False),
        (sub(job_tags={"tier": "*"}), True, False),
        (sub(jobs=frozenset({"123"}), job_tags={"team": "finance"}), True, False),
        # A job selector that does not fit this job.
        (sub(jobs=frozenset({"456"})), False, False),
        (sub(jobs=frozenset({"billing"})), False, False),
        (sub(job_tags={"team": "data"}), False, False),
        (sub(job_tags={"owner": "*"}), False, False),
        (sub(jobs=frozenset({"123"}), job_tags={"team": "data"}), False, False),
        # Event types still narrow a job route.
        (sub(jobs=frozenset({"123"}), event_types=frozenset({"run.succeeded"})), False, False),
        # Naming both kinds: each kind is heard through its own selectors.
        (sub(jobs=frozenset({"123"}), workflows=frozenset({"etl"})), True, True),
        (sub(job_tags={"team": "finance"}, workflow_tags={"team": "finance"}), True, True),
        (sub(jobs=frozenset({"123"}), workflows=frozenset({"other"})), True, False),
    ],
)
def test_who_hears_a_job_and_who_hears_a_workflow(
    candidate: Route, hears_job: bool, hears_workflow: bool
) -> None:
    assert matches(candidate, job_event()) is hears_job
    assert matches(candidate, workflow_event()) is hears_workflow


def test_an_event_with_neither_workflow_nor_job_skips_job_routes() -> None:
    rejected = AlertEvent(event_type="trigger.rejected", occurrence="event:x", occurred_at=T0)
    assert matches(sub(), rejected)
    assert not matches(sub(jobs=frozenset({"123"})), rejected)


def test_route_sends_a_job_event_only_to_the_routes_naming_it() -> None:
    routes = AlertRoutes(
        routes=(
            Route(channel="email", target="everything@x.com"),
            Route(channel="email", target="finance@x.com", job_tags={"team": "finance"}),
            Route(channel="email", target="other-job@x.com", jobs=frozenset({"456"})),
            Route(channel="webhook", target="https://hooks.example.com/b", jobs=frozenset({"123"})),
        )
    )
    requests = route(job_event(), routes)
    assert [r.target for r in requests] == ["finance@x.com", "https://hooks.example.com/b"]
    assert all(r.folded_into is None for r in requests)


def test_the_alert_key_is_the_job_where_there_is_no_workflow() -> None:
    base = compute_alert_key(job_event())
    assert compute_alert_key(job_event(occurrence="job-run:default:9002:0")) == base
    assert compute_alert_key(job_event(job_id="456")) != base
    # The same job id in another workspace is another job.
    assert compute_alert_key(job_event(workspace="prod")) != base
    assert compute_alert_key(job_event(failing_tasks=("load",))) != base
    assert compute_alert_key(job_event()) != compute_alert_key(
        job_event(job_id=None, job_name=None)
    )
    # A workflow's key is what it was before jobs existed.
    assert compute_alert_key(workflow_event()) == compute_alert_key(
        AlertEvent(
            event_type="run.failed",
            occurrence="other",
            occurred_at=T0,
            workflow_name="etl",
            failing_tasks=("load",),
        )
    )


def past(delivery_id: str, alert_key: str, job_key: str | None, minutes_ago: int) -> PastAlert:
    return PastAlert(
        delivery_id=delivery_id,
        channel="email",
        target="finance@x.com",
        alert_key=alert_key,
        workflow_name=None,
        created_at=T0 - timedelta(minutes=minutes_ago),
        sent=True,
        event_type="run.failed",
        job_key=job_key,
    )


FINANCE = AlertRoutes(
    routes=(Route(channel="email", target="finance@x.com", job_tags={"team": "finance"}),),
    dedupe_window=timedelta(minutes=15),
    throttle_window=timedelta(hours=1),
    throttle_limit=2,
)


def test_the_same_job_failing_again_within_the_window_is_folded() -> None:
    key = compute_alert_key(job_event())
    [request] = route(job_event(), FINANCE, [past("d1", key, "default/123", minutes_ago=5)])
    assert (request.folded_into, request.fold_reason) == ("d1", "duplicate")


def test_the_throttle_counts_per_job_not_across_the_workspace() -> None:
    other = compute_alert_key(job_event(job_id="456"))
    noisy_other_job = [past(f"d{i}", other, "default/456", minutes_ago=10 + i) for i in range(3)]
    [request] = route(job_event(), FINANCE, noisy_other_job)
    assert request.folded_into is None
    # The same job flapping (other keys: different failing tasks) is throttled.
    same_job = [past(f"s{i}", f"key-{i}", "default/123", minutes_ago=10 + i) for i in range(2)]
    [request] = route(job_event(), FINANCE, same_job)
    assert (request.folded_into, request.fold_reason) == ("s0", "throttled")


def test_the_same_job_in_two_workspaces_gets_two_dedupe_keys() -> None:
    one = route(job_event(), FINANCE)[0].dedupe_key
    again = route(job_event(), FINANCE)[0].dedupe_key
    other_workspace = route(job_event(occurrence="job-run:prod:9001:0", workspace="prod"), FINANCE)[
        0
    ].dedupe_key
    assert one == again != other_workspace

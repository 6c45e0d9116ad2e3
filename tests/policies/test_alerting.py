"""The alert routing policy, as tables: result state x suppression flags -> who is told what."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.policies.alerting import (
    MAX_ERROR_CHARS,
    MAX_LISTED_TASKS,
    AlertRoutes,
    FailedTask,
    RunOutcome,
    route,
)

ENDED = datetime(2024, 5, 1, 2, 10, 30, tzinfo=UTC)
STARTED = datetime(2024, 5, 1, 2, 0, 0, tzinfo=UTC)

ROUTES = AlertRoutes(
    email={
        "on_start": ("start@company.com",),
        "on_success": ("ok@company.com",),
        "on_failure": ("data-team@company.com", "oncall@company.com"),
    },
    webhook={
        "on_success": ("https://hooks.example.com/ok",),
        "on_failure": ("https://hooks.example.com/fail",),
    },
)
FAILURE_TARGETS = [
    ("email", "data-team@company.com"),
    ("email", "oncall@company.com"),
    ("webhook", "https://hooks.example.com/fail"),
]
SUCCESS_TARGETS = [("email", "ok@company.com"), ("webhook", "https://hooks.example.com/ok")]


def make_outcome(**overrides: object) -> RunOutcome:
    outcome = RunOutcome(
        run_id="run-0001",
        workflow_name="comprehensive-etl-pipeline",
        event_id="evt-42",
        trigger_source="webhook",
        result_state="FAILED",
        state_message="Task data-validation failed with message: bad rows.",
        databricks_run_id=987654,
        run_page_url="http://127.0.0.1:8091/#job/1/run/987654",
        started_at=STARTED,
        ended_at=ENDED,
        failed_tasks=(FailedTask("data-validation", "FAILED", "ValueError: 17 rows without id"),),
    )
    return replace(outcome, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("result_state", "skip_flag", "cancel_flag", "event_type", "targets"),
    [
        ("SUCCESS", False, False, "run.succeeded", SUCCESS_TARGETS),
        ("SUCCESS_WITH_FAILURES", False, False, "run.succeeded", SUCCESS_TARGETS),
        ("SUCCESS", True, True, "run.succeeded", SUCCESS_TARGETS),
        ("FAILED", False, False, "run.failed", FAILURE_TARGETS),
        ("FAILED", True, True, "run.failed", FAILURE_TARGETS),
        ("TIMEDOUT", False, False, "run.failed", FAILURE_TARGETS),
        ("INTERNAL_ERROR", False, False, "run.failed", FAILURE_TARGETS),
        ("UPSTREAM_FAILED", True, True, "run.failed", FAILURE_TARGETS),
        ("CANCELED", False, False, "run.canceled", FAILURE_TARGETS),
        ("CANCELED", True, False, "run.canceled", FAILURE_TARGETS),
        ("CANCELED", False, True, None, []),
        ("UPSTREAM_CANCELED", False, True, None, []),
        ("SKIPPED", False, False, "run.skipped", FAILURE_TARGETS),
        ("SKIPPED", False, True, "run.skipped", FAILURE_TARGETS),
        ("SKIPPED", True, False, None, []),
        ("MAXIMUM_CONCURRENT_RUNS_REACHED", False, False, "run.skipped", FAILURE_TARGETS),
        ("MAXIMUM_CONCURRENT_RUNS_REACHED", True, False, None, []),
        ("DISABLED", True, False, None, []),
        # Unknown states alert as failures: silence is the worse mistake.
        ("SOMETHING_NEW", True, True, "run.failed", FAILURE_TARGETS),
        ("UNKNOWN", False, False, "run.failed", FAILURE_TARGETS),
        ("failed", False, False, "run.failed", FAILURE_TARGETS),
    ],
)
def test_route_table(
    result_state: str,
    skip_flag: bool,
    cancel_flag: bool,
    event_type: str | None,
    targets: list[tuple[str, str]],
) -> None:
    routes = replace(
        ROUTES, no_alert_for_skipped_runs=skip_flag, no_alert_for_canceled_runs=cancel_flag
    )
    requests = route(make_outcome(result_state=result_state), routes)

    assert [(r.channel, r.target) for r in requests] == targets
    assert {r.event_type for r in requests} == ({event_type} if event_type else set())
    assert all(r.payload["event_type"] == r.event_type for r in requests)


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        (("a@x.com", "b@x.com", "a@x.com"), ("a@x.com", "b@x.com")),
        (("b@x.com", " a@x.com ", "a@x.com", "b@x.com"), ("b@x.com", "a@x.com")),
        (("", "  ", "c@x.com"), ("c@x.com",)),
        ((), ()),
    ],
)
def test_targets_are_deduplicated_in_order(
    listed: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    routes = AlertRoutes(email={"on_failure": listed}, webhook={})

    requests = route(make_outcome(), routes)

    assert tuple(r.target for r in requests) == expected


def test_no_subscriptions_means_no_alerts() -> None:
    assert route(make_outcome(), AlertRoutes(email={}, webhook={})) == []
    only_start = AlertRoutes(email={"on_start": ("x@y.com",)}, webhook={"on_start": ("http://h",)})
    assert route(make_outcome(result_state="SUCCESS"), only_start) == []


def test_payload_names_workflow_run_and_failed_tasks() -> None:
    outcome = make_outcome(
        failed_tasks=(
            FailedTask("data-validation", "FAILED", "ValueError: 17 rows without id"),
            FailedTask("load", "UPSTREAM_FAILED", None),
        )
    )

    [request, *_] = route(outcome, ROUTES)
    payload = json.loads(json.dumps(request.payload))  # JSON-serialisable, round-trips

    assert payload == {
        "event_type": "run.failed",
        "workflow": {"name": "comprehensive-etl-pipeline"},
        "run": {
            "id": "run-0001",
            "result_state": "FAILED",
            "state_message": "Task data-validation failed with message: bad rows.",
            "databricks_run_id": 987654,
            "run_page_url": "http://127.0.0.1:8091/#job/1/run/987654",
            "started_at": "2024-05-01T02:00:00+00:00",
            "ended_at": "2024-05-01T02:10:30+00:00",
            "duration_seconds": 630.0,
        },
        "trigger": {"source": "webhook", "event_id": "evt-42"},
        "failed_task_count": 2,
        "failed_tasks": [
            {
                "task_key": "data-validation",
                "result_state": "FAILED",
                "error": "ValueError: 17 rows without id",
            },
            {"task_key": "load", "result_state": "UPSTREAM_FAILED", "error": None},
        ],
    }


def test_payload_without_start_time_has_no_duration() -> None:
    [request, *_] = route(make_outcome(started_at=None, result_state="SKIPPED"), ROUTES)

    assert request.payload["run"]["started_at"] is None
    assert request.payload["run"]["duration_seconds"] is None


def test_payload_is_bounded_for_huge_failures() -> None:
    tasks = tuple(FailedTask(f"t{i}", "FAILED", "x" * 10 * MAX_ERROR_CHARS) for i in range(200))

    [request, *_] = route(make_outcome(failed_tasks=tasks), ROUTES)

    listed = request.payload["failed_tasks"]
    assert request.payload["failed_task_count"] == 200
    assert [t["task_key"] for t in listed] == [f"t{i}" for i in range(MAX_LISTED_TASKS)]
    assert all(len(t["error"]) == MAX_ERROR_CHARS for t in listed)
    assert listed[0]["error"].endswith("[truncated]")


def test_each_request_owns_its_payload() -> None:
    first, second, *_ = route(make_outcome(), ROUTES)

    first.payload["run"]["id"] = "changed"

    assert second.payload["run"]["id"] == "run-0001"


addresses = st.lists(st.sampled_from(["a@x.com", "b@x.com", " c@x.com", "", "d@x.com"]))
states = st.sampled_from(
    ["SUCCESS", "SUCCESS_WITH_FAILURES", "FAILED", "TIMEDOUT", "CANCELED", "SKIPPED", "EXCLUDED"]
) | st.text(max_size=12)


@given(
    state=states,
    on_success=addresses,
    on_failure=addresses,
    skip_flag=st.booleans(),
    cancel_flag=st.booleans(),
)
def test_requests_are_unique_and_come_from_one_route_list(
    state: str, on_success: list[str], on_failure: list[str], skip_flag: bool, cancel_flag: bool
) -> None:
    routes = AlertRoutes(
        email={"on_success": tuple(on_success), "on_failure": tuple(on_failure)},
        webhook={},
        no_alert_for_skipped_runs=skip_flag,
        no_alert_for_canceled_runs=cancel_flag,
    )

    requests = route(make_outcome(result_state=state), routes)

    targets = [r.target for r in requests]
    assert len(targets) == len(set(targets))
    listed = on_success if state.upper() in {"SUCCESS", "SUCCESS_WITH_FAILURES"} else on_failure
    assert set(targets) <= {t.strip() for t in listed}
    assert len({r.event_type for r in requests}) <= 1

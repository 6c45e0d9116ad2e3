"""The retry policy as a table: facts and a policy in, one decision out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from service.policies.retry import (
    GiveUp,
    Repair,
    Resubmit,
    RetryDecision,
    RetryPolicy,
    RunFacts,
    backoff_seconds,
    decide,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
THREE = RetryPolicy(
    max_attempts=3, initial_backoff_seconds=10, max_backoff_seconds=60, multiplier=3, jitter=0
)
REPAIR = RetryPolicy(
    max_attempts=3, initial_backoff_seconds=10, max_backoff_seconds=60, jitter=0, mode="repair"
)


def facts(result: str | None, attempt: int = 1, **extra: object) -> RunFacts:
    life_cycle = extra.pop("life_cycle", "TERMINATED")
    return RunFacts(
        attempt=attempt,
        life_cycle_state=str(life_cycle),
        result_state=result,
        **extra,  # type: ignore[arg-type]
    )


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


TABLE: list[tuple[str, RunFacts, RetryPolicy, RetryDecision]] = [
    (
        "success is never retried",
        facts("SUCCESS"),
        THREE,
        GiveUp(reason="SUCCESS is not an outcome this workflow retries"),
    ),
    (
        "the default policy (one attempt) never retries",
        facts("FAILED"),
        RetryPolicy(),
        GiveUp(reason="FAILED after 1 of 1 attempts", exhausted=False, retryable_outcome=True),
    ),
    (
        "a failure is resubmitted after the initial backoff",
        facts("FAILED"),
        THREE,
        Resubmit(at=at(10), attempt=2, reason="FAILED on attempt 1; attempt 2 of 3"),
    ),
    (
        "the backoff grows by the multiplier",
        facts("TIMEDOUT", attempt=2),
        THREE,
        Resubmit(at=at(30), attempt=3, reason="TIMEDOUT on attempt 2; attempt 3 of 3"),
    ),
    (
        "the backoff is capped",
        facts("FAILED", attempt=4),
        RetryPolicy(max_attempts=9, initial_backoff_seconds=10, max_backoff_seconds=60, jitter=0),
        Resubmit(at=at(60), attempt=5, reason="FAILED on attempt 4; attempt 5 of 9"),
    ),
    (
        "attempts run out: exhausted",
        facts("FAILED", attempt=3),
        THREE,
        GiveUp(reason="FAILED after 3 of 3 attempts", exhausted=True, retryable_outcome=True),
    ),
    (
        "an outcome the policy does not name is not retried",
        facts("CANCELED"),
        THREE,
        GiveUp(reason="CANCELED is not an outcome this workflow retries"),
    ),
    (
        "a user's cancel is never retried, even if CANCELED is listed",
        facts("CANCELED", cancel_requested_by_user=True),
        RetryPolicy(max_attempts=3, retry_on=frozenset({"CANCELED"})),
        GiveUp(reason="cancelled on request; not retried"),
    ),
    (
        "INTERNAL_ERROR without a result state retries",
        facts(None, life_cycle="INTERNAL_ERROR"),
        THREE,
        Resubmit(at=at(10), attempt=2, reason="INTERNAL_ERROR on attempt 1; attempt 2 of 3"),
    ),
    (
        "a listed termination code retries whatever the result",
        facts("CANCELED", termination_code="CLOUD_FAILURE"),
        RetryPolicy(
            max_attempts=2,
            initial_backoff_seconds=5,
            jitter=0,
            retry_on=frozenset(),
            termination_codes=frozenset({"CLOUD_FAILURE"}),
        ),
        Resubmit(at=at(5), attempt=2, reason="CANCELED on attempt 1; attempt 2 of 2"),
    ),
    (
        "FAILED is retried only when listed",
        facts("FAILED"),
        RetryPolicy(max_attempts=3, retry_on=frozenset({"TIMEDOUT"})),
        GiveUp(reason="FAILED is not an outcome this workflow retries"),
    ),
    (
        "repair mode re-runs the failed tasks",
        facts("FAILED", failed_task_keys=("load", "report")),
        REPAIR,
        Repair(
            at=at(10),
            attempt=2,
            rerun_tasks=("load", "report"),
            reason="FAILED on attempt 1; attempt 2 of 3",
        ),
    ),
    (
        "repair mode with no failed task known resubmits",
        facts(None, life_cycle="INTERNAL_ERROR"),
        REPAIR,
        Resubmit(at=at(10), attempt=2, reason="INTERNAL_ERROR on attempt 1; attempt 2 of 3"),
    ),
]


@pytest.mark.parametrize(
    ("facts_", "policy", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_decide(facts_: RunFacts, policy: RetryPolicy, expected: RetryDecision) -> None:
    assert decide(facts_, policy, NOW) == expected


@pytest.mark.parametrize("sample", [0.0, 0.25, 0.5, 0.75, 0.999])
def test_jitter_stays_within_its_fraction(sample: float) -> None:
    policy = RetryPolicy(
        max_attempts=5, initial_backoff_seconds=100, max_backoff_seconds=1000, jitter=0.2
    )
    wait = backoff_seconds(policy, attempt=2, jitter_sample=sample)
    assert 160 <= wait <= 240
    assert wait == pytest.approx(200 * (1 + 0.2 * (2 * sample - 1)))


def test_jitter_never_exceeds_the_maximum_backoff() -> None:
    policy = RetryPolicy(initial_backoff_seconds=100, max_backoff_seconds=100, jitter=0.5)
    assert backoff_seconds(policy, attempt=3, jitter_sample=0.999) == 100


def test_decide_is_pure_same_inputs_same_decision() -> None:
    one = decide(facts("FAILED", jitter_sample=0.3), THREE, NOW)
    two = decide(facts("FAILED", jitter_sample=0.3), THREE, NOW)
    assert one == two and isinstance(one, Resubmit)


def test_policy_module_imports_no_io() -> None:
    import ast
    from pathlib import Path

    import service.policies.retry as module

    tree = ast.parse(Path(module.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    forbidden = {"httpx", "sqlalchemy", "redis", "service.settings", "time", "random"}
    assert not {name for name in imported if name.split(".")[0] in forbidden or name in forbidden}

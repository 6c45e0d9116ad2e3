"""The retry policy: what to do when an attempt of a run has ended.

    decide(facts, policy, now) -> Resubmit | Repair | GiveUp

Pure: data in, a frozen decision out; no store, HTTP, settings or clock. The caller
draws the jitter sample (``RunFacts.jitter_sample``) and passes ``now``, so a decision
is reproducible and tested as a table.

Why these rules:
- Only outcomes the policy names are retried (``retry_on`` result states, or a listed
  termination code): a run that failed its data checks fails the same way again, so
  FAILED is a choice the workflow makes, not a default.
- A run somebody cancelled is never retried: retrying would undo the cancel.
- ``max_attempts`` counts every attempt, the first included, so 1 means "never retry".
- Backoff grows geometrically from ``initial_backoff_seconds`` by ``multiplier`` per
  attempt, capped at ``max_backoff_seconds``, then spread by ±``jitter`` (a fraction) so
  runs that failed together do not all come back in the same second. The wait is a
  time (``at``), which the engine stores in the run's ``next_attempt_at``.
- Repair re-runs only the failed tasks (and, at Databricks, their dependents); when no
  failed task is known (the run died before its tasks did anything) there is nothing to
  repair, so the run is resubmitted instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

__all__ = [
    "DEFAULT_RETRY_ON",
    "GiveUp",
    "Repair",
    "Resubmit",
    "RetryDecision",
    "RetryPolicy",
    "RunFacts",
    "backoff_seconds",
    "decide",
]

DEFAULT_RETRY_ON = frozenset({"FAILED", "INTERNAL_ERROR", "TIMEDOUT"})
RetryMode = Literal["resubmit", "repair"]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 1
    initial_backoff_seconds: float = 30.0
    max_backoff_seconds: float = 600.0
    multiplier: float = 2.0
    jitter: float = 0.1  # ± this fraction of the backoff
    retry_on: frozenset[str] = DEFAULT_RETRY_ON  # result states (INTERNAL_ERROR: life cycle too)
    termination_codes: frozenset[str] = frozenset()  # also retried, whatever the result state
    mode: RetryMode = "resubmit"


@dataclass(frozen=True)
class RunFacts:
    """How one attempt ended."""

    attempt: int  # 1 for the first
    life_cycle_state: str | None
    result_state: str | None
    termination_code: str | None = None
    cancel_requested_by_user: bool = False
    failed_task_keys: tuple[str, ...] = ()
    jitter_sample: float = 0.5  # uniform in [0, 1), drawn by the caller; 0.5 = no jitter


@dataclass(frozen=True)
class Resubmit:
    """A new Databricks run, ``attempt`` (with its own idempotency token), due ``at``."""

    at: datetime
    attempt: int
    reason: str


@dataclass(frozen=True)
class Repair:
    """Re-run ``rerun_tasks`` (and their dependents) in the same Databricks run, due ``at``."""

    at: datetime
    attempt: int
    rerun_tasks: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class GiveUp:
    """No further attempt. ``exhausted``: the outcome was retryable but attempts ran out."""

    reason: str
    exhausted: bool = False
    retryable_outcome: bool = field(default=False)


RetryDecision = Resubmit | Repair | GiveUp

_SUCCESS = frozenset({"SUCCESS", "SUCCESS_WITH_FAILURES"})


def backoff_seconds(policy: RetryPolicy, *, attempt: int, jitter_sample: float) -> float:
    """The wait after attempt ``attempt`` (1-based) ended, jitter applied, within bounds."""
    base = policy.initial_backoff_seconds * policy.multiplier ** max(attempt - 1, 0)
    base = min(base, policy.max_backoff_seconds)
    spread = policy.jitter * (2.0 * jitter_sample - 1.0)
    return max(0.0, min(base * (1.0 + spread), policy.max_backoff_seconds))


def _outcome(facts: RunFacts) -> str:
    if facts.result_state:
        return facts.result_state
    return facts.life_cycle_state or "UNKNOWN"


def _retryable(facts: RunFacts, policy: RetryPolicy) -> bool:
    if facts.termination_code and facts.termination_code in policy.termination_codes:
        return True
    if facts.result_state in _SUCCESS:
        return False
    if facts.result_state is not None and facts.result_state in policy.retry_on:
        return True
    # A run that died inside Databricks may carry no result state at all.
    return facts.life_cycle_state == "INTERNAL_ERROR" and "INTERNAL_ERROR" in policy.retry_on


def decide(facts: RunFacts, policy: RetryPolicy, now: datetime) -> RetryDecision:
    outcome = _outcome(facts)
    if facts.cancel_requested_by_user:
        return GiveUp(reason="cancelled on request; not retried")
    if not _retryable(facts, policy):
        return GiveUp(reason=f"{outcome} is not an outcome this workflow retries")
    if facts.attempt >= policy.max_attempts:
        return GiveUp(
            reason=f"{outcome} after {facts.attempt} of {policy.max_attempts} attempts",
            exhausted=policy.max_attempts > 1,
            retryable_outcome=True,
        )
    at = now + timedelta(
        seconds=backoff_seconds(policy, attempt=facts.attempt, jitter_sample=facts.jitter_sample)
    )
    next_attempt = facts.attempt + 1
    reason = (
        f"{outcome} on attempt {facts.attempt}; attempt {next_attempt} of {policy.max_attempts}"
    )
    if policy.mode == "repair" and facts.failed_task_keys:
        return Repair(
            at=at, attempt=next_attempt, rerun_tasks=facts.failed_task_keys, reason=reason
        )
    return Resubmit(at=at, attempt=next_attempt, reason=reason)

from __future__ import annotations

import pytest

from service.runs.delivery import retry_delay
from service.runs.states import is_terminal, run_status
from service.store.models import RunStatus


@pytest.mark.parametrize(
    ("life_cycle", "result", "expected"),
    [
        ("QUEUED", None, RunStatus.PENDING),
        ("PENDING", None, RunStatus.PENDING),
        ("BLOCKED", None, RunStatus.PENDING),
        ("WAITING_FOR_RETRY", None, RunStatus.PENDING),
        ("RUNNING", None, RunStatus.RUNNING),
        ("TERMINATING", None, RunStatus.RUNNING),
        ("TERMINATED", "SUCCESS", RunStatus.SUCCEEDED),
        ("TERMINATED", "SUCCESS_WITH_FAILURES", RunStatus.SUCCEEDED),
        ("TERMINATED", "FAILED", RunStatus.FAILED),
        ("TERMINATED", "TIMEDOUT", RunStatus.FAILED),
        ("TERMINATED", "UPSTREAM_FAILED", RunStatus.FAILED),
        ("TERMINATED", "CANCELED", RunStatus.CANCELED),
        ("TERMINATED", "UPSTREAM_CANCELED", RunStatus.CANCELED),
        ("SKIPPED", None, RunStatus.SKIPPED),
        ("TERMINATED", "MAXIMUM_CONCURRENT_RUNS_REACHED", RunStatus.SKIPPED),
        ("INTERNAL_ERROR", "FAILED", RunStatus.FAILED),
        ("INTERNAL_ERROR", None, RunStatus.FAILED),
        ("TERMINATED", "A_STATE_FROM_THE_FUTURE", RunStatus.FAILED),
        # An unknown life cycle state never ends a run: watching goes on.
        ("A_NEW_LIFE_CYCLE", None, RunStatus.PENDING),
        ("UNKNOWN", None, RunStatus.PENDING),
        (None, None, RunStatus.PENDING),
    ],
)
def test_databricks_state_maps_to_one_run_status(
    life_cycle: str | None, result: str | None, expected: str
) -> None:
    assert run_status(life_cycle, result) == expected
    assert is_terminal(life_cycle) is (expected in RunStatus.TERMINAL)


@pytest.mark.parametrize(
    ("attempts", "jitter", "expected"),
    [(1, 0.0, 5.0), (2, 0.0, 10.0), (3, 0.0, 20.0), (1, 0.5, 5.5), (30, 0.0, 3600.0)],
)
def test_alert_retry_backoff_grows_and_is_capped(
    attempts: int, jitter: float, expected: float
) -> None:
    assert retry_delay(attempts=attempts, base_seconds=5.0, jitter=jitter) == pytest.approx(
        expected
    )

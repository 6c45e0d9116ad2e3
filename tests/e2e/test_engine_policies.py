"""Concurrency, timeouts and retries end to end: real workers, the local backend, the
workflow's `lockgate` block deciding."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from service.policies.retry import RetryPolicy, backoff_seconds
from tests.e2e.conftest import Lockgate, ended, open_lockgate
from tests.e2e.test_webhook_to_run import _backend_runs, _notebook

# A task that fails until it has run `fail_times` times, counting runs in a file.
FLAKY = """
import pathlib
marker = pathlib.Path(dbutils.widgets.get("marker"))
runs = int(marker.read_text()) + 1 if marker.exists() else 1
marker.write_text(str(runs))
---
if runs <= int(dbutils.widgets.get("fail_times")):
    raise RuntimeError(f"failing on purpose, run {runs}")
dbutils.notebook.exit(str(runs))
"""

COUNT = """
import pathlib
marker = pathlib.Path(dbutils.widgets.get("first_marker"))
marker.write_text(str(int(marker.read_text()) + 1 if marker.exists() else 1))
"""


@pytest.fixture
def lockgate(tmp_path: Path, redis_url: str, redis_prefix: str) -> Iterator[Lockgate]:
    with open_lockgate(
        tmp_path, redis_url, redis_prefix, poll_interval_seconds=0.3, sweep_interval_seconds=0.3
    ) as harness:
        yield harness


def _task(key: str, path: str, **extra: Any) -> dict[str, Any]:
    return {"task_key": key, "type": "notebook", "notebook_path": path, "max_retries": 0, **extra}


def _workflow(
    lockgate: Lockgate,
    name: str,
    tasks: list[dict[str, Any]],
    engine: dict[str, Any] | None = None,
    **extra: Any,
) -> None:
    if engine is not None:
        extra["lockgate"] = engine
    response = lockgate.api.post("/api/v1/workflows", json={"name": name, "tasks": tasks, **extra})
    assert response.status_code == 201, response.text


def _start(lockgate: Lockgate, workflow: str, **parameters: str) -> str:
    response = lockgate.api.post(
        f"/api/v1/workflows/{workflow}/runs", json={"parameters": parameters}
    )
    assert response.status_code == 202, response.text
    return str(response.json()["event_id"])


def _event(lockgate: Lockgate, event_id: str, settled: bool = True) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        event: dict[str, Any] = lockgate.api.get(f"/api/v1/events/{event_id}").json()
        if not settled or event["verdict"] not in (None, "received"):
            return event
        if time.monotonic() > deadline:
            return event
        time.sleep(0.1)


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_concurrency_queue_skip_and_queue_expiry(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/nap", "import time\n---\ntime.sleep(3)")
    # Long enough that the queued run's 0.5 s wait runs out well before the slot frees,
    # even on a loaded machine where sweeps come late.
    _notebook(lockgate, "/Tests/long-nap", "import time\n---\ntime.sleep(5)")
    _workflow(lockgate, "serial", [_task("nap", "/Tests/nap")], max_concurrent_runs=1)
    _workflow(
        lockgate,
        "skipper",
        [_task("nap", "/Tests/nap")],
        max_concurrent_runs=1,
        engine={"concurrency": {"on_limit": "skip"}},
    )
    _workflow(
        lockgate,
        "impatient",
        [_task("nap", "/Tests/long-nap")],
        max_concurrent_runs=1,
        engine={"concurrency": {"max_wait_seconds": 0.5}},
    )
    lockgate.start_worker()

    serial = [_start(lockgate, "serial") for _ in range(3)]
    verdicts = [_event(lockgate, e)["verdict"] for e in serial]
    # Dispatched concurrently by the worker's threads: one takes the slot, two queue.
    assert sorted(verdicts) == ["dispatched", "queued", "queued"]

    # Either of the two may reach the slot first; the other is skipped, not queued.
    skipped = [_start(lockgate, "skipper") for _ in range(2)]
    kept_one, dropped = sorted(
        (_event(lockgate, e) for e in skipped), key=lambda e: e["verdict"] != "dispatched"
    )
    assert kept_one["verdict"] == "dispatched"
    assert dropped["verdict"] == "skipped" and dropped["run_id"] is None
    assert "max_concurrent_runs (1) reached" in dropped["verdict_reason"]

    kept = _start(lockgate, "impatient")
    assert _event(lockgate, kept)["verdict"] == "dispatched"  # holds the slot
    expiring = _start(lockgate, "impatient")
    expired = lockgate.wait_for_run(expiring, ended)
    assert expired["status"] == "skipped" and "in the queue" in expired["state_message"]
    assert _event(lockgate, expiring)["verdict"] == "skipped"
    assert lockgate.wait_for_run(kept, ended)["status"] == "succeeded"

    runs = [lockgate.wait_for_run(e, ended) for e in serial]
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    # One at a time: each starts after the one before it ended.
    runs.sort(key=lambda r: _at(r["submitted_at"]))
    for before, after in itertools.pairwise(runs):
        assert _at(after["submitted_at"]) >= _at(before["ended_at"]), [
            (r["submitted_at"], r["started_at"], r["ended_at"], r["databricks_run_id"])
            for r in runs
        ]
    # The queued ones were let through in the end.
    assert [_event(lockgate, e)["verdict"] for e in serial] == ["dispatched"] * 3
    assert len(_backend_runs(lockgate, runs[0]["databricks_job_id"])) == 3


def test_timeout_cancels_at_databricks_and_records_timedout(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/forever", "import time\n---\ntime.sleep(60)")
    _workflow(
        lockgate,
        "stuck",
        [_task("wait", "/Tests/forever", timeout_seconds=0)],
        timeout_seconds=0,
        engine={"timeout_seconds": 1.5},
    )
    lockgate.start_worker()
    started = time.monotonic()
    run = lockgate.wait_for_run(_start(lockgate, "stuck"), ended, timeout=40)
    assert time.monotonic() - started < 30
    assert run["status"] == "failed"
    assert run["result_state"] == "TIMEDOUT"
    assert run["cancel_reason"] == "timeout"
    [backend_run] = _backend_runs(lockgate, run["databricks_job_id"])
    assert backend_run["state"]["result_state"] == "CANCELED"
    assert [a["decision"] for a in run["attempts"]] == ["give_up"]


def test_resubmit_retries_with_the_policys_backoff(lockgate: Lockgate, tmp_path: Path) -> None:
    policy = {"max_attempts": 3, "initial_backoff_seconds": 1, "multiplier": 2, "jitter": 0}
    _notebook(lockgate, "/Tests/flaky", FLAKY)
    _workflow(lockgate, "flaky", [_task("try", "/Tests/flaky")], engine={"retry": policy})
    lockgate.start_worker()
    marker = tmp_path / "flaky-count"
    event_id = _start(lockgate, "flaky", marker=str(marker), fail_times="2")
    run = lockgate.wait_for_run(event_id, ended, timeout=60)

    assert run["status"] == "succeeded", run
    assert run["attempt"] == 3
    attempts = run["attempts"]
    assert [(a["attempt"], a["kind"], a["decision"]) for a in attempts] == [
        (1, "run-now", "resubmit"),
        (2, "run-now", "resubmit"),
        (3, "run-now", "give_up"),
    ]
    # One new Databricks run per attempt, each with its own idempotency token.
    assert len({a["databricks_run_id"] for a in attempts}) == 3
    assert len(_backend_runs(lockgate, run["databricks_job_id"])) == 3
    expected = RetryPolicy(max_attempts=3, initial_backoff_seconds=1, multiplier=2, jitter=0)
    for previous, following in itertools.pairwise(attempts):
        gap = (_at(following["started_at"]) - _at(previous["ended_at"])).total_seconds()
        wait = backoff_seconds(expected, attempt=previous["attempt"], jitter_sample=0.5)
        # Never before the backoff; late by at most a poll, a sweep and a submission.
        assert wait <= gap <= wait + 3.0, (previous, following)
    assert marker.read_text() == "3"


def test_repair_reruns_only_the_failed_task(lockgate: Lockgate, tmp_path: Path) -> None:
    _notebook(lockgate, "/Tests/flaky", FLAKY)
    _notebook(lockgate, "/Tests/count", COUNT)
    policy = {"max_attempts": 2, "initial_backoff_seconds": 0.5, "jitter": 0, "mode": "repair"}
    _workflow(
        lockgate,
        "mend",
        [_task("first", "/Tests/count"), _task("second", "/Tests/flaky", depends_on=["first"])],
        engine={"retry": policy},
    )
    lockgate.start_worker()
    first, second = tmp_path / "first-count", tmp_path / "second-count"
    event_id = _start(lockgate, "mend", first_marker=str(first), marker=str(second), fail_times="1")
    run = lockgate.wait_for_run(event_id, ended, timeout=60)

    assert run["status"] == "succeeded", run
    assert [(a["attempt"], a["kind"]) for a in run["attempts"]] == [(1, "run-now"), (2, "repair")]
    assert run["attempts"][1]["repair_id"] is not None
    # The same Databricks run, repaired in place: "first" ran once, "second" twice.
    assert {a["databricks_run_id"] for a in run["attempts"]} == {run["databricks_run_id"]}
    assert len(_backend_runs(lockgate, run["databricks_job_id"])) == 1
    assert (first.read_text(), second.read_text()) == ("1", "2")


def test_a_job_deleted_in_the_workspace_is_made_again_and_one_time_mode(
    lockgate: Lockgate,
) -> None:
    _notebook(lockgate, "/Tests/ok", "dbutils.notebook.exit('ok')")
    _workflow(lockgate, "kept", [_task("t", "/Tests/ok")])
    _workflow(lockgate, "once-off", [_task("t", "/Tests/ok")], engine={"mode": "one_time"})
    lockgate.start_worker()
    first = lockgate.wait_for_run(_start(lockgate, "kept"), ended)
    assert first["status"] == "succeeded"
    deleted = lockgate.backend.post(
        "/api/2.2/jobs/delete", json={"job_id": first["databricks_job_id"]}
    )
    assert deleted.status_code == 200, deleted.text

    second = lockgate.wait_for_run(_start(lockgate, "kept"), ended)
    assert second["status"] == "succeeded", second
    assert second["databricks_job_id"] not in (None, first["databricks_job_id"])
    assert len(_backend_runs(lockgate, second["databricks_job_id"])) == 1

    one_time = lockgate.wait_for_run(_start(lockgate, "once-off"), ended)
    assert one_time["status"] == "succeeded", one_time
    assert one_time["databricks_job_id"] is None
    [attempt] = one_time["attempts"]
    assert attempt["kind"] == "submit"
    got = lockgate.backend.get(
        "/api/2.2/jobs/runs/get", params={"run_id": one_time["databricks_run_id"]}
    ).json()
    assert got["run_type"] == "SUBMIT_RUN"


def test_a_repair_can_name_its_tasks(lockgate: Lockgate, tmp_path: Path) -> None:
    _notebook(lockgate, "/Tests/flaky", FLAKY)
    _notebook(lockgate, "/Tests/count", COUNT)
    _workflow(
        lockgate,
        "pick",
        [_task("first", "/Tests/count"), _task("second", "/Tests/flaky", depends_on=["first"])],
    )
    lockgate.start_worker()
    first, second = tmp_path / "first-count", tmp_path / "second-count"
    event_id = _start(lockgate, "pick", first_marker=str(first), marker=str(second), fail_times="1")
    failed = lockgate.wait_for_run(event_id, ended, timeout=60)
    assert failed["status"] == "failed", failed

    refused = lockgate.api.post(
        f"/api/v1/runs/{failed['id']}/repair", json={"tasks": ["first", "nope"]}
    )
    assert refused.status_code == 422, refused.text
    assert [e["path"] for e in refused.json()["errors"]] == ["$.tasks[1]"]
    # "first" succeeded; naming it runs it again, and "second" with it (it depends on it).
    repaired = lockgate.api.post(f"/api/v1/runs/{failed['id']}/repair", json={"tasks": ["first"]})
    assert repaired.status_code == 202, repaired.text
    run = lockgate.wait_for_run(event_id, lambda r: ended(r) and r["attempt"] == 2, timeout=60)
    assert run["status"] == "succeeded", run
    assert (first.read_text(), second.read_text()) == ("2", "2")
    got = lockgate.backend.get(
        "/api/2.2/jobs/runs/get",
        params={"run_id": run["databricks_run_id"], "include_history": "true"},
    ).json()
    assert [entry["type"] for entry in got["repair_history"]] == ["ORIGINAL", "REPAIR"]

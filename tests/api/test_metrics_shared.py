"""/metrics for what the workers count in Redis: Jobs API calls by endpoint and status,
and the poll lag (Databricks ending a run attempt -> Lockgate recording it)."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from prometheus_client.parser import text_string_to_metric_families

from service.observability.poll_lag import PollLagRecorder, poll_lag_key, read_poll_lag
from service.runs.workspaces import WorkspaceClients
from tests.e2e.conftest import Lockgate, ended, open_lockgate
from tests.e2e.test_engine_policies import FLAKY
from tests.e2e.test_webhook_to_run import _backend_runs, _notebook
from tests.factories import make_settings
from tests.servers import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(lockgate: Lockgate) -> Samples:
    response = lockgate.api.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _jobs_api(samples: Samples) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["endpoint"], dict(labels)["status"]): value
        for (name, labels), value in samples.items()
        if name == "lockgate_jobs_api_requests_total"
    }


def test_a_run_with_a_retry_moves_the_jobs_api_counters_and_the_poll_lag(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    with open_lockgate(tmp_path, redis_url, redis_prefix, poll_interval_seconds=0.5) as lockgate:
        before = _scrape(lockgate)
        assert _jobs_api(before) == {}
        assert before[("lockgate_poll_lag_seconds_count", ())] == 0

        _notebook(lockgate, "/Tests/flaky", FLAKY)
        task = {"task_key": "t", "type": "notebook", "notebook_path": "/Tests/flaky"}
        retry = {"max_attempts": 2, "initial_backoff_seconds": 1, "jitter": 0}
        workflow = {"name": "flaky", "tasks": [{**task, "max_retries": 0}]}
        response = lockgate.api.post(
            "/api/v1/workflows", json={**workflow, "lockgate": {"retry": retry}}
        )
        assert response.status_code == 201, response.text
        lockgate.start_worker()
        marker = tmp_path / "flaky-count"
        started = lockgate.api.post(
            "/api/v1/workflows/flaky/runs",
            json={"parameters": {"marker": str(marker), "fail_times": "1"}},
        )
        assert started.status_code == 202, started.text
        run = lockgate.wait_for_run(started.json()["event_id"], ended, timeout=60)
        assert run["status"] == "succeeded" and run["attempt"] == 2, run

        # The lag is recorded right after the sweep that recorded the ending.
        deadline = time.monotonic() + 10
        while (samples := _scrape(lockgate))[("lockgate_poll_lag_seconds_count", ())] < 2:
            assert time.monotonic() < deadline, lockgate.worker_logs()
            time.sleep(0.1)
        backend_runs = _backend_runs(lockgate, run["databricks_job_id"])

        # Counting is best effort: with Redis down a call is neither counted nor failed.
        dead_redis = lockgate.settings.model_copy(
            update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
        )
        clients = WorkspaceClients.from_settings(dead_redis)
        try:
            assert [j["settings"]["name"] for j in clients.get().list_jobs().jobs] == ["flaky"]
        finally:
            clients.close()
        assert _jobs_api(_scrape(lockgate)) == _jobs_api(samples)

    calls = _jobs_api(samples)
    # One run-now per attempt, as the backend saw them: the counter is the call count.
    assert calls[("/api/2.2/jobs/run-now", "200")] == len(backend_runs) == 2
    assert calls[("/api/2.2/jobs/runs/list", "200")] >= 2
    assert calls[("/api/2.2/jobs/runs/get-output", "200")] >= 1  # the failed attempt's task
    assert {status for _, status in calls} == {"200"}

    # Both endings (the failed attempt, retried, and the final one): once each.
    assert samples[("lockgate_poll_lag_seconds_count", ())] == 2
    lag_sum = samples[("lockgate_poll_lag_seconds_sum", ())]
    # Lockgate polls every 0.5 s; on a busy machine a sweep may take a few seconds.
    assert 0 < lag_sum < 20, lag_sum
    assert samples[("lockgate_poll_lag_seconds_bucket", (("le", "+Inf"),))] == 2
    assert samples[("lockgate_poll_lag_seconds_bucket", (("le", "30.0"),))] == 2


def test_poll_lag_histogram_in_redis_is_cumulative(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    settings = make_settings(tmp_path, redis_url=redis_url, queue_prefix=redis_prefix)
    client = redis.Redis.from_url(redis_url)
    try:
        key = poll_lag_key(settings)
        recorder = PollLagRecorder(client, key)
        recorder.observe([0.2, 0.5, 3.0, 700.0])
        recorder.observe([])
        histogram = read_poll_lag(client, key)
    finally:
        client.close()
    buckets = dict(histogram.buckets)
    assert (buckets["0.5"], buckets["2.0"], buckets["5.0"], buckets["600.0"]) == (2, 2, 3, 3)
    assert buckets["+Inf"] == histogram.count == 4
    assert histogram.sum == 703.7

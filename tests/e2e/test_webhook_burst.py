"""A burst of webhooks: committed together by the ingress's group commit, announced as a
few dispatch_events messages, each event still one run and one Databricks run."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from service.runs.queue import DISPATCH_CHUNK, DISPATCH_EVENT, DISPATCH_EVENTS, dispatch_messages
from tests.e2e.conftest import Lockgate, ended
from tests.e2e.test_webhook_to_run import SECRET, _create, _notebook
from tests.factories import signed_post

BURST = 40


def test_dispatch_messages_carry_one_event_alone_and_bursts_in_chunks() -> None:
    assert dispatch_messages(["a"]) == [(DISPATCH_EVENT, ("a",))]
    ids = [str(n) for n in range(DISPATCH_CHUNK * 2 + 1)]
    messages = dispatch_messages(ids)
    assert [name for name, _ in messages] == [DISPATCH_EVENTS] * 3
    assert [e for _, chunk in messages for e in chunk] == ids  # all, once, in order


def test_a_burst_of_webhooks_makes_one_run_each(lockgate: Lockgate) -> None:
    _notebook(lockgate, "/Tests/quick", "print('quick')")
    _create(
        lockgate,
        {
            "name": "bursty",
            "max_concurrent_runs": BURST,
            "tasks": [
                {"task_key": "t", "type": "notebook", "notebook_path": "/Tests/quick"},
            ],
        },
        "bursty",
    )
    lockgate.start_worker()
    base_url = str(lockgate.api.base_url)

    def deliver(n: int) -> httpx.Response:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            return signed_post(
                client, "bursty", SECRET, f'{{"n": {n}}}'.encode(), idempotency_key=f"burst-{n}"
            )

    with ThreadPoolExecutor(BURST) as pool:
        responses = list(pool.map(deliver, range(BURST)))
    assert [r.status_code for r in responses] == [202] * BURST
    events = [r.json()["event_id"] for r in responses]
    assert len(set(events)) == BURST

    runs = [lockgate.wait_for_run(e, ended, timeout=180) for e in events]
    assert {r["status"] for r in runs} == {"succeeded"}
    assert len({r["databricks_run_id"] for r in runs}) == BURST
    assert len(_backend_runs_all(lockgate, runs[0]["databricks_job_id"])) == BURST
    # 40 at once do not come one by one: at least one batch went out as dispatch_events.
    assert DISPATCH_EVENTS in lockgate.workers[0].log_path.read_text()


def _backend_runs_all(lockgate: Lockgate, job_id: int) -> list[dict[str, object]]:
    runs: list[dict[str, object]] = []
    token = None
    while True:
        params: dict[str, object] = {"job_id": job_id, "limit": 25}
        if token:
            params["page_token"] = token
        page = lockgate.backend.get("/api/2.2/jobs/runs/list", params=params).json()
        runs += page.get("runs", [])
        token = page.get("next_page_token")
        if not token:
            return runs

"""The overview counts what the store and Redis hold: runs by state in the last day,
events by source and verdict, alert deliveries pending/failing/dead, Jobs API calls and
how much of each request budget is in use, and the runs active now."""

from __future__ import annotations

import re

import redis

from service.databricks.budget import RequestClass
from service.embedded.up import _banner
from service.observability.jobs_api_counters import jobs_api_counters_key
from service.runs.workspaces import budget_key
from tests.ui.conftest import Console
from tests.ui.seed import seed


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_overview_counts_the_store_and_the_jobs_api(console: Console, redis_url: str) -> None:
    s = seed(console.sessions)
    store = redis.Redis.from_url(redis_url)
    try:
        counters = jobs_api_counters_key(console.settings)
        store.hincrby(counters, "/api/2.2/jobs/runs/get 200", 40)
        store.hincrby(counters, "/api/2.2/jobs/runs/list 200", 2)
        store.hincrby(counters, "/api/2.2/jobs/run-now 429", 1)
        # The reads bucket drained by a 429 just now: 5 s of debt at 50 req/s, so it is
        # still paused while the page renders.
        reads = budget_key(console.settings, "default", RequestClass.READS)
        seconds, micros = store.time()
        store.hset(reads, mapping={"tokens": "-250", "at": str(seconds + micros / 1e6)})
        page = console.signed_in("read").get("/ui").text
    finally:
        store.close()
    text = _text(page)
    assert "failed 1" in text and "running 1" in text  # runs by state (last 24 h)
    assert "Active now: 1" in text and s.evil_workflow not in page  # name shown escaped
    assert re.search(r"webhook dispatched 1", text)
    assert re.search(r"Dead-lettered 1", text) and re.search(r"Pending 0", text)
    assert "Calls 43" in text and "Not 2xx 1" in text
    assert "default reads 100% 100% of 50 at 50.0/s paused after a 429" in text
    assert "default writes 0% 0% of 10" in text  # untouched: a full bucket


def test_lockgate_up_prints_the_console_url_beside_the_api() -> None:
    banner = _banner("http://127.0.0.1:8080", "lg_key", None, None)
    assert "  API:      http://127.0.0.1:8080 " in banner
    assert "  Console:  http://127.0.0.1:8080/ui " in banner

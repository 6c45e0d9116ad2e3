"""Prometheus metrics the workers count in Redis, read at scrape time: Jobs API calls by
endpoint and status, and the poll lag histogram. A scrape that cannot reach Redis
leaves them out rather than failing (the store metrics are still served)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import redis
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from service.observability.jobs_api_counters import jobs_api_counters_key, read_jobs_api_counts
from service.observability.poll_lag import poll_lag_key, read_poll_lag
from service.settings import Settings

log = logging.getLogger(__name__)


class SharedCountersCollector(Collector):
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def collect(self) -> Iterator[Metric]:
        try:
            counts = read_jobs_api_counts(self._redis, jobs_api_counters_key(self._settings))
            lag = read_poll_lag(self._redis, poll_lag_key(self._settings))
        except redis.RedisError as exc:
            log.warning("shared metrics unavailable: %s", exc)
            return
        requests = CounterMetricFamily(
            "lockgate_jobs_api_requests",
            "Databricks Jobs API HTTP exchanges (retries included), by endpoint and status "
            "(an HTTP status, or the error's name when no response came)",
            labels=["endpoint", "status"],
        )
        for (endpoint, status), count in sorted(counts.items()):
            requests.add_metric([endpoint, status], count)
        yield requests
        histogram = HistogramMetricFamily(
            "lockgate_poll_lag_seconds",
            "From Databricks ending a run attempt to Lockgate recording the ending",
        )
        histogram.add_metric([], buckets=lag.buckets, sum_value=lag.sum)
        yield histogram

"""What an operator scrapes: Prometheus metrics read from the store and, for what the
workers count (Jobs API calls, poll lag), from Redis."""

from service.observability.jobs_api_counters import JobsApiCounters, jobs_api_counters_key
from service.observability.metrics import LATENCY_BUCKETS_SECONDS, StoreCollector
from service.observability.poll_lag import PollLagRecorder, poll_lag_key
from service.observability.shared_metrics import SharedCountersCollector

__all__ = [
    "LATENCY_BUCKETS_SECONDS",
    "JobsApiCounters",
    "PollLagRecorder",
    "SharedCountersCollector",
    "StoreCollector",
    "jobs_api_counters_key",
    "poll_lag_key",
]

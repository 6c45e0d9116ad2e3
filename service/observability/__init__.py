"""What an operator scrapes: Prometheus metrics read from the store and the broker."""

from service.observability.metrics import LATENCY_BUCKETS_SECONDS, StoreCollector

__all__ = ["LATENCY_BUCKETS_SECONDS", "StoreCollector"]

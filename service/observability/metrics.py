"""Prometheus metrics computed from the store at scrape time.

The API, workers, scheduler and listener are separate processes; counting in each would
need a shared multiprocess directory. The store already holds every event, run and
delivery, so the API answers from it: the numbers agree with the ledger by construction
and survive restarts. Counts only grow (rows are kept), so they are exposed as counters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.store.models import AlertDelivery, Run, TriggerEvent

LATENCY_BUCKETS_SECONDS = (0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class StoreCollector(Collector):
    def __init__(
        self, sessions: sessionmaker[Session], queue_depth: Callable[[], int | None]
    ) -> None:
        self._sessions = sessions
        self._queue_depth = queue_depth

    def collect(self) -> Iterator[Metric]:
        with self._sessions() as session:
            yield from self._events(session)
            yield from self._runs(session)
            yield from self._deliveries(session)
            yield self._submit_latency(session)
        depth = self._queue_depth()
        if depth is not None:
            queue = GaugeMetricFamily("lockgate_queue_depth", "Messages waiting in the task queue")
            queue.add_metric([], depth)
            yield queue

    def _events(self, session: Session) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "lockgate_trigger_events",
            "Trigger events received, by source and verdict",
            labels=["source", "verdict"],
        )
        rows = session.execute(
            select(TriggerEvent.source, TriggerEvent.verdict, func.count()).group_by(
                TriggerEvent.source, TriggerEvent.verdict
            )
        )
        for source, verdict, count in rows:
            events.add_metric([source, verdict or "pending"], count)
        yield events

    def _runs(self, session: Session) -> Iterator[Metric]:
        runs = GaugeMetricFamily("lockgate_runs", "Runs by Lockgate status", labels=["status"])
        for status, count in session.execute(select(Run.status, func.count()).group_by(Run.status)):
            runs.add_metric([status], count)
        yield runs

    def _deliveries(self, session: Session) -> Iterator[Metric]:
        deliveries = GaugeMetricFamily(
            "lockgate_alert_deliveries",
            "Alert deliveries by channel type and status",
            labels=["channel", "status"],
        )
        rows = session.execute(
            select(AlertDelivery.channel, AlertDelivery.status, func.count()).group_by(
                AlertDelivery.channel, AlertDelivery.status
            )
        )
        for channel, status, count in rows:
            deliveries.add_metric([channel, status], count)
        yield deliveries

    def _submit_latency(self, session: Session) -> Metric:
        """Trigger (event committed) → Databricks accepted the run, for every submitted run."""
        rows = session.execute(
            select(TriggerEvent.received_at, Run.submitted_at)
            .join(Run, Run.trigger_event_id == TriggerEvent.id)
            .where(Run.submitted_at.is_not(None))
        )
        counts = [0] * len(LATENCY_BUCKETS_SECONDS)
        total, observed = 0.0, 0
        for received_at, submitted_at in rows:
            if submitted_at is None:  # excluded by the query; keeps the type checker honest
                continue
            seconds = max(0.0, (submitted_at - received_at).total_seconds())
            total += seconds
            observed += 1
            for index, bound in enumerate(LATENCY_BUCKETS_SECONDS):
                if seconds <= bound:
                    counts[index] += 1
        buckets = [(str(b), float(c)) for b, c in zip(LATENCY_BUCKETS_SECONDS, counts, strict=True)]
        buckets.append(("+Inf", float(observed)))
        histogram = HistogramMetricFamily(
            "lockgate_trigger_to_submit_seconds",
            "From a trigger's commit to Databricks accepting its run",
        )
        histogram.add_metric([], buckets=buckets, sum_value=total)
        return histogram

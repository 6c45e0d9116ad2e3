"""Poll lag: how long after Databricks ended a run attempt Lockgate recorded the ending.

The lag of one ending is the time of the transaction that recorded it (the run row's
``updated_at``, set in that transaction) minus Databricks' end time (the attempt row's
``ended_at``). The store keeps both only until something else touches the run, so the
poll task measures right after each sweep, for the attempts that were active before it,
and adds the lags to a histogram kept in Redis (the API serves ``/metrics``, the
workers sweep). Best effort, like the Jobs API counters: a Redis error loses the
sample, never fails the sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from sqlalchemy import select, tuple_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from service.settings import Settings
from service.store.models import Run, RunStatus
from service.store.models.engine import RunAttempt

log = logging.getLogger(__name__)

POLL_LAG_BUCKETS_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_COUNT, _SUM = "count", "sum"
_CHUNK = 500  # (run, attempt) pairs per query: well under any database's parameter limit


def poll_lag_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:metrics:poll-lag"


def active_attempts(session: Session) -> dict[str, int]:
    """Run id -> current attempt, for every run Databricks is running: taken before a
    sweep, so the attempts that ended during it can be found after."""
    rows = session.execute(select(Run.id, Run.attempt).where(Run.status.in_(RunStatus.ACTIVE)))
    return {run_id: attempt for run_id, attempt in rows}


def lags_of_ended(session: Session, before: Mapping[str, int]) -> list[float]:
    """Seconds from Databricks' end to Lockgate's record, for each attempt in ``before``
    that has ended since (whether the run finished or is retrying)."""
    pairs = list(before.items())
    lags: list[float] = []
    for start in range(0, len(pairs), _CHUNK):
        chunk = pairs[start : start + _CHUNK]
        rows = session.execute(
            select(Run.updated_at, RunAttempt.ended_at)
            .join(RunAttempt, RunAttempt.run_id == Run.id)
            .where(
                tuple_(RunAttempt.run_id, RunAttempt.attempt).in_(chunk),
                RunAttempt.ended_at.is_not(None),
                Run.status.not_in(RunStatus.ACTIVE),
            )
        )
        for recorded_at, ended_at in rows:
            if ended_at is not None:
                lags.append(max(0.0, (recorded_at - ended_at).total_seconds()))
    return lags


@dataclass(frozen=True)
class LagHistogram:
    """Cumulative bucket counts (``+Inf`` last), the sum and the count."""

    buckets: list[tuple[str, float]]
    sum: float
    count: int


class PollLagRecorder:
    """Adds samples to the shared histogram: one Redis hash, a field per bucket (counts
    per bucket, made cumulative when read), plus the count and the sum."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self._redis = client
        self._key = key

    @contextmanager
    def measuring(self, sessions: sessionmaker[Session]) -> Iterator[None]:
        """Wraps one sweep: notes the active attempts before it, and records the lags of
        those that ended during it right after (before anything else touches the rows)."""
        try:
            with sessions() as session:
                before = active_attempts(session)
        except SQLAlchemyError as exc:
            log.warning("poll lag not measured: %s", exc)
            before = {}
        yield
        if not before:
            return
        try:
            with sessions() as session:
                lags = lags_of_ended(session, before)
        except SQLAlchemyError as exc:  # the sweep is done: its follow-ups must still go out
            log.warning("poll lag not measured: %s", exc)
            return
        self.observe(lags)

    def observe(self, lags: Iterable[float]) -> None:
        samples = list(lags)
        if not samples:
            return
        pipe = self._redis.pipeline(transaction=True)
        for seconds in samples:
            pipe.hincrby(self._key, _bucket_of(seconds), 1)
        pipe.hincrby(self._key, _COUNT, len(samples))
        pipe.hincrbyfloat(self._key, _SUM, sum(samples))
        try:
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("poll lag of %d endings not recorded: %s", len(samples), exc)


def read_poll_lag(client: redis.Redis, key: str) -> LagHistogram:
    stored = {_text(k): _text(v) for k, v in client.hgetall(key).items()}
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound in POLL_LAG_BUCKETS_SECONDS:
        running += int(stored.get(str(bound), 0))
        buckets.append((str(bound), float(running)))
    count = int(stored.get(_COUNT, 0))
    buckets.append(("+Inf", float(count)))
    return LagHistogram(buckets=buckets, sum=float(stored.get(_SUM, 0.0)), count=count)


def _bucket_of(seconds: float) -> str:
    for bound in POLL_LAG_BUCKETS_SECONDS:
        if seconds <= bound:
            return str(bound)
    return "+Inf"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.store.models import EventStatus, Run, TriggerEvent, new_id, utcnow


def find_event(
    session: Session,
    *,
    source: str,
    source_name: str,
    dedupe_key: str,
    workflow_id: str | None = None,
) -> TriggerEvent | None:
    """The accepted event recorded under this key (for ``workflow_id`` when a source
    targets several workflows); ledger-only rows (duplicates, rejects) never match."""
    query = select(TriggerEvent).where(
        TriggerEvent.source == source,
        TriggerEvent.source_name == source_name,
        TriggerEvent.dedupe_key == dedupe_key,
        TriggerEvent.status != EventStatus.IGNORED,
    )
    if workflow_id is not None:
        query = query.where(TriggerEvent.workflow_id == workflow_id)
    return session.scalars(query.order_by(TriggerEvent.received_at, TriggerEvent.id)).first()


def record_event(
    session: Session,
    *,
    source: str,
    source_name: str,
    dedupe_key: str,
    workflow_id: str,
    payload: dict[str, Any],
    parameters: dict[str, Any],
    replay_of_id: str | None = None,
) -> tuple[TriggerEvent, bool]:
    """Inserts the event or returns the one already recorded under the same dedupe key.

    The partial unique index, not the lookup, is what guarantees one event per key: two
    concurrent deliveries race to the insert and the loser reads the winner's row.
    Returns (event, created).
    """
    existing = find_event(
        session,
        source=source,
        source_name=source_name,
        dedupe_key=dedupe_key,
        workflow_id=workflow_id,
    )
    if existing is not None:
        return existing, False
    event = TriggerEvent(
        source=source,
        source_name=source_name,
        dedupe_key=dedupe_key,
        workflow_id=workflow_id,
        payload=payload,
        parameters=parameters,
        replay_of_id=replay_of_id,
    )
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        winner = find_event(
            session,
            source=source,
            source_name=source_name,
            dedupe_key=dedupe_key,
            workflow_id=workflow_id,
        )
        if winner is None:
            raise
        return winner, False
    return event, True


EventKey = tuple[str, str, str]  # (source_name, dedupe_key, workflow_id) within a source


def accepted_event_ids(
    session: Session, *, source: str, keys: Sequence[EventKey]
) -> dict[EventKey, str]:
    """The accepted events already recorded under these keys of one source, in one
    query (``find_event`` for a batch): key -> event id."""
    if not keys:
        return {}
    rows = session.execute(
        select(
            TriggerEvent.source_name,
            TriggerEvent.dedupe_key,
            TriggerEvent.workflow_id,
            TriggerEvent.id,
        ).where(
            TriggerEvent.source == source,
            TriggerEvent.source_name.in_({k[0] for k in keys}),
            TriggerEvent.dedupe_key.in_({k[1] for k in keys}),
            TriggerEvent.status != EventStatus.IGNORED,
        )
    )
    wanted = set(keys)
    return {
        (name, key, wid): eid
        for name, key, wid, eid in rows
        if wid is not None and (name, key, wid) in wanted
    }


def insert_events(session: Session, *, rows: Sequence[Mapping[str, Any]]) -> None:
    """Inserts accepted events in one statement; each row carries its own ``id``. Raises
    IntegrityError if any key is already taken: callers look keys up first
    (``accepted_event_ids``) and fall back to ``record_event`` one by one on a race."""
    if rows:
        session.execute(insert(TriggerEvent), [dict(row) for row in rows])


def record_ignored_event(
    session: Session,
    *,
    source: str,
    source_name: str,
    dedupe_key: str | None,
    workflow_id: str,
    verdict: str,
    reason: str,
    payload: dict[str, Any],
    parameters: dict[str, Any] | None = None,
    duplicate_of_id: str | None = None,
) -> TriggerEvent:
    """A ledger row for a delivery that starts nothing (duplicate, filtered, rejected).

    Its status keeps it out of dispatch, the sweeper and the uniqueness rule; a rejected
    delivery has no trustworthy key, so it gets one of its own.
    """
    event_id = new_id()
    event = TriggerEvent(
        id=event_id,
        source=source,
        source_name=source_name,
        dedupe_key=(dedupe_key or f"none:{event_id}")[:200],
        workflow_id=workflow_id,
        payload=payload,
        parameters=parameters or {},
        status=EventStatus.IGNORED,
        verdict=verdict,
        verdict_reason=reason,
        duplicate_of_id=duplicate_of_id,
    )
    session.add(event)
    session.flush()
    return event


def claim_event_for_dispatch(session: Session, *, event_id: str) -> bool:
    result = session.execute(
        update(TriggerEvent)
        .where(TriggerEvent.id == event_id, TriggerEvent.status == EventStatus.RECEIVED)
        .values(status=EventStatus.DISPATCHED, verdict="dispatched", dispatched_at=utcnow())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def undispatched_event_ids(
    session: Session, *, older_than: datetime, limit: int = 500
) -> list[str]:
    return list(
        session.scalars(
            select(TriggerEvent.id)
            .where(
                TriggerEvent.status == EventStatus.RECEIVED, TriggerEvent.received_at < older_than
            )
            .order_by(TriggerEvent.received_at, TriggerEvent.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class EventFilter:
    source: str | None = None
    source_name: str | None = None
    verdict: str | None = None
    workflow_id: str | None = None
    received_from: datetime | None = None
    received_before: datetime | None = None


def list_events(
    session: Session,
    *,
    where: EventFilter,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[TriggerEvent]:
    """Newest first. Keyset paging on (received_at, id): ``after`` is the last row of the
    previous page, and the id breaks ties between events received in the same instant,
    so a page boundary never skips or repeats a row while new events arrive."""
    query = select(TriggerEvent)
    if where.source is not None:
        query = query.where(TriggerEvent.source == where.source)
    if where.source_name is not None:
        query = query.where(TriggerEvent.source_name == where.source_name)
    if where.workflow_id is not None:
        query = query.where(TriggerEvent.workflow_id == where.workflow_id)
    if where.verdict == "received":
        query = query.where(TriggerEvent.verdict.is_(None))
    elif where.verdict is not None:
        query = query.where(TriggerEvent.verdict == where.verdict)
    if where.received_from is not None:
        query = query.where(TriggerEvent.received_at >= where.received_from)
    if where.received_before is not None:
        query = query.where(TriggerEvent.received_at < where.received_before)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                TriggerEvent.received_at < at,
                and_(TriggerEvent.received_at == at, TriggerEvent.id < last_id),
            )
        )
    query = query.order_by(TriggerEvent.received_at.desc(), TriggerEvent.id.desc()).limit(limit)
    return list(session.scalars(query))


def runs_for_events(session: Session, *, event_ids: Sequence[str]) -> dict[str, Run]:
    if not event_ids:
        return {}
    runs = session.scalars(select(Run).where(Run.trigger_event_id.in_(list(event_ids))))
    return {run.trigger_event_id: run for run in runs}


def replays_of(session: Session, *, event_ids: Sequence[str]) -> dict[str, list[TriggerEvent]]:
    if not event_ids:
        return {}
    found: dict[str, list[TriggerEvent]] = {}
    replays = session.scalars(
        select(TriggerEvent)
        .where(TriggerEvent.replay_of_id.in_(list(event_ids)))
        .order_by(TriggerEvent.received_at, TriggerEvent.id)
    )
    for replay in replays:
        found.setdefault(replay.replay_of_id or "", []).append(replay)
    return found

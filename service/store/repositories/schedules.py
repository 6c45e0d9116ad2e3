from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from service.store.models.triggers import Schedule


def list_schedules(session: Session) -> list[Schedule]:
    return list(session.scalars(select(Schedule).order_by(Schedule.workflow_name)))


def get_schedule(session: Session, *, workflow_name: str) -> Schedule | None:
    return session.scalars(
        select(Schedule).where(Schedule.workflow_name == workflow_name)
    ).one_or_none()


def due_schedules(
    session: Session, *, now: datetime, limit: int, lock: bool = False
) -> list[Schedule]:
    """With ``lock``, PostgreSQL locks the rows read and skips rows another transaction
    holds, so replicas split a burst instead of queueing behind one another (SQLite has
    no row locks: its write lock already serialises the replicas)."""
    query = (
        select(Schedule)
        .where(Schedule.paused.is_(False), Schedule.next_fire_at <= now)
        .order_by(Schedule.next_fire_at, Schedule.id)
        .limit(limit)
    )
    if lock:
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def earliest_fire(session: Session) -> datetime | None:
    return session.scalar(
        select(Schedule.next_fire_at)
        .where(Schedule.paused.is_(False), Schedule.next_fire_at.is_not(None))
        .order_by(Schedule.next_fire_at)
        .limit(1)
    )


def claim_fire(
    session: Session,
    *,
    schedule_id: str,
    expected_next: datetime,
    new_next: datetime | None,
    fired_at: datetime | None,
    now: datetime,
) -> bool:
    """Moves ``next_fire_at`` on from the value this scheduler read. Only one of several
    schedulers that read the same row gets rowcount 1; the others fire nothing."""
    values: dict[str, object] = {"next_fire_at": new_next, "updated_at": now}
    if fired_at is not None:
        values["last_fire_at"] = fired_at
    # No session synchronisation: a scheduler claims hundreds of rows per transaction,
    # and matching each UPDATE against every loaded row would make a round quadratic.
    result = session.execute(
        update(Schedule)
        .where(Schedule.id == schedule_id, Schedule.next_fire_at == expected_next)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FireClaim:
    schedule_id: str
    expected_next: datetime  # the next_fire_at this scheduler read
    new_next: datetime | None
    fired_at: datetime | None  # None keeps last_fire_at


def claim_fires(session: Session, *, claims: Sequence[FireClaim], now: datetime) -> int:
    """``claim_fire`` for many schedules in one executemany. Returns how many matched:
    only when all did are all the claims this scheduler's (the count cannot tell which
    failed), so a caller that gets fewer must undo the batch and claim one by one."""
    if not claims:
        return 0
    # Run on the connection, not the session: a plain executemany, no ORM bulk update.
    # Binds are typed as the columns, so a fire time compares as it was stored.
    at = Schedule.next_fire_at.type
    statement = (
        update(Schedule)
        .where(
            Schedule.id == bindparam("claim_id"),
            Schedule.next_fire_at == bindparam("claim_expected", type_=at),
        )
        .values(
            next_fire_at=bindparam("claim_next", type_=at),
            last_fire_at=func.coalesce(bindparam("claim_fired", type_=at), Schedule.last_fire_at),
            updated_at=bindparam("claim_now", type_=at),
        )
    )
    # In id order, so two PostgreSQL transactions updating overlapping sets wait for
    # each other instead of deadlocking.
    params = [
        {
            "claim_id": c.schedule_id,
            "claim_expected": c.expected_next,
            "claim_next": c.new_next,
            "claim_fired": c.fired_at,
            "claim_now": now,
        }
        for c in sorted(claims, key=lambda c: c.schedule_id)
    ]
    result = session.connection().execute(statement, params)
    return int(result.rowcount)

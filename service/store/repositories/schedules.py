from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.store.models.triggers import Schedule


def list_schedules(session: Session) -> list[Schedule]:
    return list(session.scalars(select(Schedule).order_by(Schedule.workflow_name)))


def get_schedule(session: Session, *, workflow_name: str) -> Schedule | None:
    return session.scalars(
        select(Schedule).where(Schedule.workflow_name == workflow_name)
    ).one_or_none()


def due_schedules(session: Session, *, now: datetime, limit: int) -> list[Schedule]:
    return list(
        session.scalars(
            select(Schedule)
            .where(Schedule.paused.is_(False), Schedule.next_fire_at <= now)
            .order_by(Schedule.next_fire_at, Schedule.id)
            .limit(limit)
        )
    )


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

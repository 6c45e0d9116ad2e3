"""One round of schedule fires: claim a batch of due schedules and record their events,
all in the caller's transaction (the caller commits, then announces).

Why a batch: with 10,000 schedules about 170 come due in the same second, and an
UPDATE, a lookup and an INSERT per fire made the last fire of such a burst half a
second late. A round claims the batch in one executemany and records its events in two
statements (``ledger.record_triggers``).

Invariants a reader must not break:

- A fire is claimed (``next_fire_at`` moved on by a conditional UPDATE on the value that
  was read) in the same transaction that records its event. A scheduler that dies
  before its commit leaves the schedule due, and the next round of any replica fires
  it; nothing is claimed anywhere else (no lock or key outside the database to expire).
- Only a scheduler whose claim matched records the fire. A batch claim tells how many
  rows matched, not which: when it matched fewer than it asked for (another replica
  moved some on first), it is undone and the schedules are claimed one by one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.settings import Settings
from service.store.models.triggers import Schedule
from service.store.repositories import events as events_repo
from service.store.repositories import schedules as schedules_repo
from service.store.repositories.schedules import FireClaim
from service.triggers.cron import CronError
from service.triggers.ledger import AcceptedTrigger, NewTrigger, record_triggers
from service.triggers.schedule_times import FirePlan, MisfirePolicy, plan_fires, schedule_times

log = logging.getLogger(__name__)

SOURCE = "schedule"


@dataclass(frozen=True)
class _Planned:
    schedule: Schedule
    claim: FireClaim
    plan: FirePlan | None  # None: the schedule cannot be read; the claim stops it
    policy: MisfirePolicy


class _ClaimRace(Exception):
    """A batch claim matched fewer rows than it asked for."""


def fire_schedules(
    session: Session,
    schedules: Sequence[Schedule],
    *,
    now: datetime,
    settings: Settings,
    clock: Callable[[], datetime],
) -> list[AcceptedTrigger]:
    """Claims ``schedules`` (read as due at ``now``) and records the fires this
    scheduler won (each schedule's oldest first). ``clock`` dates the writing, for each
    event's ``late_ms``."""
    planned = _claim(session, [_plan(s, now, settings) for s in schedules], now)
    for item in planned:
        if item.plan is not None and item.plan.missed:
            _record_missed(
                session, item.schedule, item.plan.missed, item.plan.missed_more, item.policy
            )
    written_at = clock()
    triggers = [
        NewTrigger(
            source_name=item.schedule.workflow_name,
            dedupe_key=f"fire:{fire_at.isoformat()}",
            workflow_id=item.schedule.workflow_id,
            payload={
                "fire_at": fire_at.isoformat(),
                "kind": item.schedule.kind,
                "expression": item.schedule.expression,
                "timezone": item.schedule.timezone,
                # From the due instant to the writing of the event (not the announce).
                "late_ms": int((written_at - fire_at).total_seconds() * 1000),
            },
        )
        for item in planned
        if item.plan is not None
        for fire_at in item.plan.run
    ]
    return record_triggers(session, source=SOURCE, triggers=triggers)


def _plan(schedule: Schedule, now: datetime, settings: Settings) -> _Planned:
    expected = schedule.next_fire_at
    assert expected is not None  # due_schedules selects only scheduled rows
    policy: MisfirePolicy = schedule.misfire_policy or settings.scheduler_misfire_policy  # type: ignore[assignment]
    try:
        times = schedule_times(
            kind=schedule.kind,
            expression=schedule.expression,
            timezone=schedule.timezone,
            interval=schedule.interval,
            unit=schedule.unit,
            anchor=schedule.anchor_at,
        )
    except CronError as exc:
        log.warning("schedule of %s unreadable: %s", schedule.workflow_name, exc)
        stop = FireClaim(schedule.id, expected_next=expected, new_next=None, fired_at=None)
        return _Planned(schedule, stop, None, policy)
    plan = plan_fires(
        times,
        next_fire_at=expected,
        now=now,
        grace=timedelta(seconds=settings.scheduler_misfire_grace_seconds),
        policy=policy,
        limit=schedule.misfire_limit or settings.scheduler_misfire_limit,
    )
    claim = FireClaim(
        schedule.id,
        expected_next=expected,
        new_next=plan.next_fire_at,
        fired_at=plan.run[-1] if plan.run else None,
    )
    return _Planned(schedule, claim, plan, policy)


def _claim(session: Session, planned: list[_Planned], now: datetime) -> list[_Planned]:
    """The planned fires this scheduler won."""
    claims = [item.claim for item in planned]
    try:
        with session.begin_nested():
            if schedules_repo.claim_fires(session, claims=claims, now=now) != len(claims):
                raise _ClaimRace
        return planned
    except _ClaimRace:
        log.debug("batch claim of %d schedules raced another scheduler", len(claims))
    return [
        item
        for item in planned
        if schedules_repo.claim_fire(
            session,
            schedule_id=item.claim.schedule_id,
            expected_next=item.claim.expected_next,
            new_next=item.claim.new_next,
            fired_at=item.claim.fired_at,
            now=now,
        )
    ]


def _record_missed(
    session: Session, schedule: Schedule, missed: list[datetime], more: bool, policy: str
) -> None:
    """One ``skipped`` ledger row for the fires the misfire policy did not run."""
    first, last = missed[0], missed[-1]
    count = f"{len(missed)}{'+' if more else ''}"
    events_repo.record_ignored_event(
        session,
        source=SOURCE,
        source_name=schedule.workflow_name,
        dedupe_key=f"missed:{first.isoformat()}..{last.isoformat()}",
        workflow_id=schedule.workflow_id,
        verdict="skipped",
        reason=f"{count} fires from {first.isoformat()} to {last.isoformat()} were missed "
        f"while no scheduler ran; misfire policy {policy!r} did not run them",
        payload={"missed_from": first.isoformat(), "missed_to": last.isoformat(), "count": count},
    )

"""When a schedule fires, and what to do about fires missed while no scheduler ran.

Both are pure: the scheduler passes ``now`` and acts on the returned plan.

Misfire policy (a fire is missed when it is found more than ``grace`` late):

- ``skip``: run none of the missed fires; go on from the next future one;
- ``run_once``: run the latest missed fire once (a daily load that missed three days
  runs once, for today);
- ``catch_up``: run the latest ``limit`` missed fires, oldest first.

Fires found within ``grace`` are on time and always run. The missed fires that are not
run are reported (they become one ``skipped`` row in the ledger), never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from service.triggers import cron

MisfirePolicy = Literal["skip", "run_once", "catch_up"]
MISFIRE_POLICIES: tuple[MisfirePolicy, ...] = ("skip", "run_once", "catch_up")
PERIODIC_SECONDS = {"MINUTES": 60, "HOURS": 3600, "DAYS": 86_400, "WEEKS": 604_800}


@dataclass(frozen=True)
class CronTimes:
    spec: cron.CronSpec

    def next_after(self, after: datetime) -> datetime | None:
        return cron.next_fire(self.spec, after)


@dataclass(frozen=True)
class PeriodicTimes:
    """Databricks ``periodic``: every ``interval`` units, counted from ``anchor``."""

    anchor: datetime
    seconds: int

    def next_after(self, after: datetime) -> datetime | None:
        if after < self.anchor:
            return self.anchor
        steps = int((after - self.anchor).total_seconds() // self.seconds) + 1
        return self.anchor + timedelta(seconds=steps * self.seconds)


ScheduleTimes = CronTimes | PeriodicTimes


def schedule_times(
    *,
    kind: str,
    expression: str | None,
    timezone: str,
    interval: int | None,
    unit: str | None,
    anchor: datetime,
) -> ScheduleTimes:
    if kind == "periodic":
        if not interval or unit not in PERIODIC_SECONDS:
            raise cron.CronError(f"periodic needs an interval and a unit, not {interval} {unit}")
        return PeriodicTimes(anchor=anchor, seconds=interval * PERIODIC_SECONDS[unit])
    return CronTimes(cron.parse(expression or "", timezone))


@dataclass(frozen=True)
class FirePlan:
    run: list[datetime]  # fires to record, oldest first
    missed: list[datetime]  # late fires not run (by policy)
    missed_more: bool  # more were missed than were counted
    next_fire_at: datetime | None


def plan_fires(
    times: ScheduleTimes,
    *,
    next_fire_at: datetime,
    now: datetime,
    grace: timedelta,
    policy: MisfirePolicy,
    limit: int,
    max_steps: int = 10_000,
) -> FirePlan:
    due: list[datetime] = []
    fire: datetime | None = next_fire_at
    truncated = False
    while fire is not None and fire <= now:
        if len(due) >= max_steps:
            truncated = True
            # Jump close to now: the fires between are all missed and counted as such.
            fire = times.next_after(now - grace - timedelta(seconds=1))
            continue
        due.append(fire)
        fire = times.next_after(fire)
    late = [f for f in due if now - f > grace]
    on_time = [f for f in due if now - f <= grace]
    if policy == "skip":
        ran_late: list[datetime] = []
    elif policy == "run_once":
        ran_late = late[-1:] if late and not on_time else []
    else:
        ran_late = late[-limit:]
    ran = set(ran_late)
    missed = [f for f in late if f not in ran]
    return FirePlan(run=ran_late + on_time, missed=missed, missed_more=truncated, next_fire_at=fire)

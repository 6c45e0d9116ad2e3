"""Keeping the ``schedules`` and ``file_watches`` rows in step with workflow definitions.

Each process remembers which workflow versions it has read, so a sync over 10,000
workflows parses only those that changed since (the first sync parses all). A row keeps
its runtime state (next fire, checkpoint, operator overrides) when its definition did not
change what it means.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.store.models import Workflow
from service.store.models.triggers import FileWatch, Schedule
from service.triggers.cron import CronError
from service.triggers.definitions import (
    CronSpec,
    FileArrivalSpec,
    PeriodicSpec,
    WorkflowTriggers,
    workflow_triggers,
)
from service.triggers.schedule_times import schedule_times

log = logging.getLogger(__name__)


@dataclass
class DefinitionSync:
    """What this process has read: workflow id -> version."""

    schedules: bool = True
    file_watches: bool = True
    _read: dict[str, int] = field(default_factory=dict)

    def sync(self, session: Session, *, now: datetime) -> int:
        """Brings rows up to date; returns how many workflows were (re)read."""
        current = {
            wid: version for wid, version in session.execute(select(Workflow.id, Workflow.version))
        }
        for gone in set(self._read) - set(current):
            del self._read[gone]
        changed = [wid for wid, version in current.items() if self._read.get(wid) != version]
        for workflow_id in changed:
            workflow = session.get(Workflow, workflow_id)
            if workflow is None:
                continue
            triggers = workflow_triggers(workflow)
            if self.schedules:
                _sync_schedule(session, workflow, triggers, now)
            if self.file_watches:
                _sync_watch(session, workflow, triggers.file_arrival, now)
            self._read[workflow_id] = workflow.version
        return len(changed)

    def sync_one(self, session: Session, *, workflow: Workflow, now: datetime) -> None:
        triggers = workflow_triggers(workflow)
        if self.schedules:
            _sync_schedule(session, workflow, triggers, now)
        if self.file_watches:
            _sync_watch(session, workflow, triggers.file_arrival, now)


def _sync_schedule(
    session: Session, workflow: Workflow, triggers: WorkflowTriggers, now: datetime
) -> None:
    row = session.scalars(select(Schedule).where(Schedule.workflow_id == workflow.id)).first()
    spec = triggers.schedule
    if spec is None:
        if row is not None:
            session.delete(row)
        return
    shape: tuple[str, str | None, str, int | None, str | None]
    if isinstance(spec, CronSpec):
        shape = ("cron", spec.expression, spec.timezone, None, None)
    else:
        assert isinstance(spec, PeriodicSpec)
        shape = ("periodic", None, "UTC", spec.interval, spec.unit)
    if row is None:
        row = Schedule(workflow_id=workflow.id, anchor_at=now)
        session.add(row)
    same = (row.kind, row.expression, row.timezone, row.interval, row.unit) == shape
    row.workflow_name = workflow.name
    row.workflow_version = workflow.version
    row.kind, row.expression, row.timezone, row.interval, row.unit = shape
    row.definition_paused = spec.paused
    was_paused = bool(row.paused)
    row.paused = row.paused_override if row.paused_override is not None else spec.paused
    row.updated_at = now
    if not same or row.next_fire_at is None or (was_paused and not row.paused):
        if not same:
            row.anchor_at = now
        row.next_fire_at = first_fire(row, now)
    session.flush()


def first_fire(row: Schedule, now: datetime) -> datetime | None:
    try:
        times = schedule_times(
            kind=row.kind,
            expression=row.expression,
            timezone=row.timezone,
            interval=row.interval,
            unit=row.unit,
            anchor=row.anchor_at or now,
        )
    except CronError as exc:
        log.warning("schedule of %s cannot be read: %s", row.workflow_name, exc)
        return None
    return times.next_after(now)


def _sync_watch(
    session: Session, workflow: Workflow, spec: FileArrivalSpec | None, now: datetime
) -> None:
    row = session.scalars(select(FileWatch).where(FileWatch.workflow_id == workflow.id)).first()
    if spec is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        row = FileWatch(workflow_id=workflow.id, pending_files=[])
        session.add(row)
    if row.location != spec.url:
        # A new place to look: start over, as Databricks does (files already there do
        # not trigger).
        row.initialized = False
        row.checkpoint_name = None
        row.pending_files = []
    row.workflow_name = workflow.name
    row.workflow_version = workflow.version
    row.location = spec.url
    row.min_time_between_triggers_seconds = spec.min_time_between_triggers_seconds
    row.wait_after_last_change_seconds = spec.wait_after_last_change_seconds
    row.paused = spec.paused
    if spec.suffix is not None:
        row.suffix = spec.suffix
    if spec.glob is not None:
        row.glob = spec.glob
    row.trigger_on_overwrite = spec.trigger_on_overwrite or bool(row.trigger_on_overwrite)
    row.updated_at = now
    session.flush()

"""Models for trigger sources: schedules, file watches and what they have seen,
expectations (absence triggers), and the ledger's uniqueness rule.

Invariants a reader must not break:

- ``uq_trigger_events_accepted`` is the one thing that makes "the same delivery twice →
  one run" hold across API replicas, scheduler replicas and listener replicas: every
  source records its trigger under a dedupe key and the loser of a race reads the
  winner's row. Ledger-only rows (status ``ignored``) are outside it.
- A schedule's ``next_fire_at`` only moves forward, by a conditional UPDATE on its old
  value (``claim_fire``), so two schedulers that read the same row fire it once.
- A file watch's checkpoint and pending files are written in the same transaction as
  the trigger event they produce.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models._base import Base, new_id, utcnow
from service.store.models.core import TriggerEvent

ACCEPTED_ONLY = text("status != 'ignored'")

# Attached to trigger_events (defined in core) from here, next to the rest of the
# trigger rules; see the module docstring.
Index(
    "uq_trigger_events_accepted",
    TriggerEvent.source,
    TriggerEvent.source_name,
    TriggerEvent.dedupe_key,
    TriggerEvent.workflow_id,
    unique=True,
    sqlite_where=ACCEPTED_ONLY,
    postgresql_where=ACCEPTED_ONLY,
)

# Events without a workflow (runs seen ending by the workspace watcher): NULLs are
# distinct in the index above, so these have their own.
Index(
    "uq_trigger_events_observed",
    TriggerEvent.source,
    TriggerEvent.source_name,
    TriggerEvent.dedupe_key,
    unique=True,
    sqlite_where=text("workflow_id IS NULL"),
    postgresql_where=text("workflow_id IS NULL"),
)


class Schedule(Base):
    """A workflow's time trigger: Quartz/Unix cron in a time zone, or Databricks'
    ``periodic`` (every N units from ``anchor_at``). Synced from the definition when the
    workflow's version changes; pause and misfire overrides are Lockgate's own."""

    __tablename__ = "schedules"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), unique=True
    )
    workflow_name: Mapped[str] = mapped_column(String(100))
    workflow_version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # cron | periodic
    expression: Mapped[str | None] = mapped_column(String(200), default=None)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    interval: Mapped[int | None] = mapped_column(Integer, default=None)
    unit: Mapped[str | None] = mapped_column(String(10), default=None)
    anchor_at: Mapped[datetime] = mapped_column(default=utcnow)
    definition_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # None follows the definition; True/False is an operator's pause/unpause.
    paused_override: Mapped[bool | None] = mapped_column(Boolean, default=None)
    paused: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    misfire_policy: Mapped[str | None] = mapped_column(String(20), default=None)
    misfire_limit: Mapped[int | None] = mapped_column(Integer, default=None)
    next_fire_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    last_fire_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FileWatch(Base):
    """A workflow's file-arrival trigger and the listener's checkpoint for it."""

    __tablename__ = "file_watches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), unique=True
    )
    workflow_name: Mapped[str] = mapped_column(String(100))
    workflow_version: Mapped[int] = mapped_column(Integer)
    location: Mapped[str] = mapped_column(Text)  # the url as written in the definition
    suffix: Mapped[str | None] = mapped_column(String(100), default=None)
    glob: Mapped[str | None] = mapped_column(String(200), default=None)
    trigger_on_overwrite: Mapped[bool] = mapped_column(Boolean, default=False)
    min_time_between_triggers_seconds: Mapped[int] = mapped_column(Integer, default=0)
    wait_after_last_change_seconds: Mapped[int] = mapped_column(Integer, default=0)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Listener state. ``checkpoint_name`` is the greatest blob name seen; listing
    # resumes from its folder (see service.triggers.blob_listing).
    initialized: Mapped[bool] = mapped_column(Boolean, default=False)
    checkpoint_name: Mapped[str | None] = mapped_column(Text, default=None)
    pending_files: Mapped[list[list[str]]] = mapped_column(JSON, default=list)  # [name, etag]
    last_change_at: Mapped[datetime | None] = mapped_column(default=None)
    last_triggered_at: Mapped[datetime | None] = mapped_column(default=None)
    # Several listeners may run: one holds a watch for a poll at a time.
    lease_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SeenBlob(Base):
    """Blobs a watch has seen in the folders it still lists (older ones are pruned)."""

    __tablename__ = "seen_blobs"
    __table_args__ = (UniqueConstraint("watch_id", "name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    watch_id: Mapped[str] = mapped_column(ForeignKey("file_watches.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(1024))
    etag: Mapped[str] = mapped_column(String(100))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Expectation(Base):
    """An absence trigger: "a file under ``location`` (or a successful run of
    ``workflow_name``) by each occurrence of ``deadline_cron`` in ``timezone``"; the
    window is the time since the previous occurrence."""

    __tablename__ = "expectations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # file | run
    location: Mapped[str | None] = mapped_column(Text, default=None)
    workflow_name: Mapped[str | None] = mapped_column(String(100), default=None)
    deadline_cron: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    next_deadline_at: Mapped[datetime] = mapped_column(index=True)
    last_deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    last_outcome: Mapped[str | None] = mapped_column(String(10), default=None)
    last_detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

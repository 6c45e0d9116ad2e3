"""Job-completion triggers: a workflow started when its upstream runs end.

One ``CompletionTrigger`` per workflow whose definition has a ``trigger.job_completion``
block: the spec, synced from the definition (``service.triggers.completion_sync``), and
the runtime state the evaluation (``service.triggers.job_completion``) keeps:

- ``pending``: per upstream (by its key, e.g. ``workflow:ingest``), the latest matching
  completion not yet consumed by a fire;
- ``consumed``: per upstream, the last completion a fire consumed, so the same ending
  handed in again (or an older one arriving late) is not counted twice;
- ``last_fired_at``, and ``due_at`` when ``min_time_between_triggers_seconds`` holds a
  fire back (the sweeper fires it then, with what was gathered by that time).

Invariants a reader must not break: the state is read and written only under the row's
lock (``with_for_update``), in the transaction that records the fire's ledger event.
``CompletionUpstream`` rows are derived from the spec (rewritten by the sync only); they
let an ending find its triggers with one indexed query instead of reading every trigger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models._base import Base, new_id, utcnow


class CompletionTrigger(Base):
    __tablename__ = "completion_triggers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workflow_id: Mapped[str] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), unique=True
    )
    workflow_name: Mapped[str] = mapped_column(String(100))
    workflow_version: Mapped[int] = mapped_column(Integer)
    if_status: Mapped[str] = mapped_column(String(10), default="SUCCESS")  # SUCCESS|FAILED|DONE
    condition: Mapped[str] = mapped_column(String(3), default="ALL")  # ALL | ANY
    min_time_between_triggers_seconds: Mapped[int] = mapped_column(Integer, default=0)
    workspace: Mapped[str] = mapped_column(String(100), default="default")
    # The selectors as written, in order: [{"workflow": "a"}, {"job_tag": {"team": "x"}}].
    upstreams: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pending: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    consumed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    last_fired_at: Mapped[datetime | None] = mapped_column(default=None)
    due_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CompletionUpstream(Base):
    """One upstream of a trigger, for lookup: ``kind`` is workflow, job_id, job_name or
    job_tag; ``value`` the name or id as text (empty for job_tag: tags are matched in
    code against the trigger's ``upstreams``, so every job_tag row is read)."""

    __tablename__ = "completion_trigger_upstreams"
    __table_args__ = (Index("ix_completion_trigger_upstreams_kind_value", "kind", "value"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    trigger_id: Mapped[str] = mapped_column(
        ForeignKey("completion_triggers.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(500))

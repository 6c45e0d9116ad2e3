"""The workspace watcher's place in each workspace's run history.

``checkpoint_ms`` is a start time: every run that started since it and ended is listed
by ``runs/list?completed_only=true&start_time_from=checkpoint``; ``seen`` names the
endings already recorded among those (run id -> end time), so a listing read again
records nothing twice. Runs that started before the checkpoint and were still active
when it moved past them are kept in ``long_running`` (run id -> start time) and looked
up on their own once they leave the active listing. All three are written in the same
transaction as the ledger events they account for.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models._base import Base, utcnow


class WorkspaceWatch(Base):
    __tablename__ = "workspace_watches"

    workspace: Mapped[str] = mapped_column(String(100), primary_key=True)
    checkpoint_ms: Mapped[int] = mapped_column(BigInteger)
    seen: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    long_running: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    last_pass_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

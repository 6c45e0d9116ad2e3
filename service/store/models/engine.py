"""Models for the run engine: every attempt of a run, as its own row.

A run's columns say where it is now; ``run_attempts`` says how it got there. A row is
written when an attempt is sent to Databricks (a submission, a resubmission or a
repair) and completed when that attempt ends, with the retry decision taken on it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.store.models._base import Base, new_id, utcnow


class RunAttempt(Base):
    __tablename__ = "run_attempts"
    __table_args__ = (UniqueConstraint("run_id", "attempt"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # run-now, submit, resubmit, repair
    databricks_run_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    repair_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    life_cycle_state: Mapped[str | None] = mapped_column(String(40), default=None)
    result_state: Mapped[str | None] = mapped_column(String(40), default=None)
    termination_code: Mapped[str | None] = mapped_column(String(60), default=None)
    state_message: Mapped[str | None] = mapped_column(Text, default=None)
    # What the retry policy made of this attempt's ending: resubmit, repair or give_up.
    decision: Mapped[str | None] = mapped_column(String(20), default=None)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)

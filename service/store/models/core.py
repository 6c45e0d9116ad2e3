"""SQLAlchemy models: the durable record of every trigger, run and alert.

The state columns double as the outbox: a TriggerEvent in ``received``, a Run in
``requested``/``submitting`` and an AlertDelivery in ``pending`` are work not yet done, and
the sweeper re-enqueues whatever stays there too long. So a row must be committed before
its Celery message is sent, and every task must be safe to run twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.store.models._base import Base, new_id, utcnow


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["admin"])
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Workflow(Base):
    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    databricks_job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    synced_version: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Hook(Base):
    """An inbound webhook endpoint: ``POST /hooks/{name}`` starts ``workflow_name``.

    The secret is kept in the clear because verifying an HMAC needs it; it is never
    returned by the API after creation and never logged.
    """

    __tablename__ = "hooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # The first target; ``workflow_names`` lists every target (one event per workflow).
    workflow_name: Mapped[str] = mapped_column(String(100))
    workflow_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The newest secret. During a rotation the older ones stay valid until their
    # ``expires_at`` (``previous_secrets``: [{"secret", "expires_at"}]), so senders can
    # switch over without a window in which their deliveries are refused.
    secret: Mapped[str] = mapped_column(String(200))
    previous_secrets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # lockgate (HMAC over timestamp.body), github (X-Hub-Signature-256) or token.
    verification: Mapped[str] = mapped_column(String(20), default="lockgate")
    # run parameter -> where its value comes from: $.body.path, header:Name, query:name
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    filters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    delivery_id_header: Mapped[str | None] = mapped_column(String(100), default=None)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    max_body_bytes: Mapped[int | None] = mapped_column(Integer, default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(default=None)

    @property
    def targets(self) -> list[str]:
        return list(self.workflow_names) or [self.workflow_name]


class TriggerEvent(Base):
    """One received trigger for one workflow: the trigger ledger.

    Every delivery is written down, also those that start nothing: a duplicate, one a
    hook's filter drops, one refused (bad signature). Those carry status ``ignored`` and
    their verdict, so no dispatcher or sweeper ever picks them up. Among the others
    ``(source, source_name, dedupe_key, workflow_id)`` is unique (a partial unique index,
    ``uq_trigger_events_accepted`` in ``service.store.models.triggers``), so a second copy
    of the same delivery finds the first instead of making a second run.
    """

    __tablename__ = "trigger_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    source: Mapped[str] = mapped_column(String(20))
    source_name: Mapped[str] = mapped_column(String(100))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    # None for an event that starts nothing by itself: a run that ended in a watched
    # workspace (source ``databricks``, status ``observed``).
    workflow_id: Mapped[str | None] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="received", index=True)
    # What became of it, for people reading the ledger: dispatched, queued, skipped, ...
    # (``status`` above is the outbox state the sweeper reads; this is the verdict.)
    verdict: Mapped[str | None] = mapped_column(String(20), default=None, index=True)
    verdict_reason: Mapped[str | None] = mapped_column(Text, default=None)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(default=None)
    # A replay is a new event (so a new run) that names the event it replays; a duplicate
    # names the accepted event it duplicates.
    replay_of_id: Mapped[str | None] = mapped_column(String(32), default=None, index=True)
    duplicate_of_id: Mapped[str | None] = mapped_column(String(32), default=None)


class Run(Base):
    """A Lockgate run: one per trigger event, one Databricks run per attempt."""

    __tablename__ = "runs"
    # The console's run list pages newest first by (requested_at, id), overall and per
    # workflow: these make every page one index range, at 1,000 runs or 100,000.
    __table_args__ = (
        Index("ix_runs_requested_at_id", "requested_at", "id"),
        Index("ix_runs_workflow_id_requested_at_id", "workflow_id", "requested_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    trigger_event_id: Mapped[str] = mapped_column(
        ForeignKey("trigger_events.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(20), default="requested", index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    databricks_job_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    databricks_run_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    run_page_url: Mapped[str | None] = mapped_column(Text, default=None)
    life_cycle_state: Mapped[str | None] = mapped_column(String(40), default=None)
    result_state: Mapped[str | None] = mapped_column(String(40), default=None)
    state_message: Mapped[str | None] = mapped_column(Text, default=None)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # Run engine: when a waiting run (retrying) is due, how it retries, when Lockgate
    # cancels it for taking too long, and why a cancel was asked for.
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    retry_mode: Mapped[str | None] = mapped_column(String(20), default=None)
    latest_repair_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The tasks a person chose to repair (their dependents run too); None: the failed ones.
    # Cleared once the repair is at Databricks, so a later automatic repair picks afresh.
    repair_tasks: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # The task graph of the settings last submitted (service.runs.task_graph): a run's
    # page draws it, whatever the workflow says now. None for runs from before 0014.
    # Deferred: only a run's page reads it, not the sweeps that load runs by the hundred.
    task_graph: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSON, default=None, deferred=True
    )
    deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_reason: Mapped[str | None] = mapped_column(String(20), default=None)
    workspace: Mapped[str] = mapped_column(String(100), default="default", server_default="default")

    tasks: Mapped[list[TaskRun]] = relationship(
        back_populates="run", order_by="TaskRun.task_key", cascade="all, delete-orphan"
    )


class TaskRun(Base):
    __tablename__ = "task_runs"
    __table_args__ = (UniqueConstraint("run_id", "task_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    task_key: Mapped[str] = mapped_column(String(100))
    databricks_run_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    attempt_number: Mapped[int] = mapped_column(Integer, default=0)
    life_cycle_state: Mapped[str | None] = mapped_column(String(40), default=None)
    result_state: Mapped[str | None] = mapped_column(String(40), default=None)
    state_message: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    termination_code: Mapped[str | None] = mapped_column(String(60), default=None)

    run: Mapped[Run] = relationship(back_populates="tasks")


class AlertDelivery(Base):
    """One decided alert to one target. Retries count attempts on this row and wait in
    ``next_attempt_at`` (read by the sweeper), never in a broker countdown; each attempt
    also leaves an ``AlertAttempt`` row (``service.store.models.alerting``) as history.

    ``dedupe_key`` is unique: it names the occurrence (run, attempt, event, target), so an
    ending observed twice or an emitter retried after a crash adds nothing. ``alert_key``
    is what the dedupe/throttle windows compare (workflow + event + failing tasks): a
    repeat within the window is folded into an earlier row by raising ``occurrences``.
    """

    __tablename__ = "alert_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), default=None, index=True
    )
    event_type: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True, default=new_id)
    alert_key: Mapped[str] = mapped_column(String(64), default="", index=True)
    workflow_name: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    format: Mapped[str] = mapped_column(String(20), default="generic")
    channel_name: Mapped[str | None] = mapped_column(String(100), default=None)
    subscription_id: Mapped[str | None] = mapped_column(String(32), default=None)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    # Occurrences folded in after this row was sent: the next alert for the key reports them.
    unsent_occurrences: Mapped[int] = mapped_column(Integer, default=0)
    last_occurrence_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A ``suppressed`` row (a repeat within a window) names the alert it was counted in.
    folded_into_id: Mapped[str | None] = mapped_column(String(32), default=None)


class EventStatus:
    RECEIVED = "received"
    DISPATCHED = "dispatched"
    IGNORED = "ignored"  # in the ledger only: duplicate, filtered or rejected
    OBSERVED = "observed"  # in the ledger only: a run that ended in a watched workspace


class RunStatus:
    """Lockgate's run states. Databricks' own states are kept beside them, verbatim."""

    REQUESTED = "requested"  # committed, not yet sent to Databricks
    SUBMITTING = "submitting"  # a worker is calling Databricks (safe to redo: idempotency token)
    PENDING = "pending"  # Databricks accepted it; queued, pending or blocked
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"
    ERROR = "error"  # Lockgate could not submit it at all (bad job settings, auth)
    QUEUED = "queued"  # waiting for a slot under the workflow's max_concurrent_runs
    RETRYING = "retrying"  # an attempt ended; the next one is due at next_attempt_at

    UNSUBMITTED = (REQUESTED, SUBMITTING)
    ACTIVE = (PENDING, RUNNING)
    TERMINAL = (SUCCEEDED, FAILED, CANCELED, SKIPPED, ERROR)


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    # A repeat folded into an earlier alert by the dedupe/throttle windows: never sent.
    SUPPRESSED = "suppressed"

"""Models for alerting: named channels, their subscriptions, and every delivery attempt.

A channel (``etl-failures``) is a name people subscribe to; a subscription is one target
(an email address or a webhook URL with its format) narrowed by event types, workflow
names and workflow tags, Databricks jobs and job tags. ``AlertDelivery`` (in ``core``) is
one decided alert to one target; ``AlertAttempt`` is one try at sending it, kept as the
alert's history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.store.models._base import Base, new_id, utcnow


class AlertChannel(Base):
    __tablename__ = "alert_channels"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    subscriptions: Mapped[list[AlertSubscription]] = relationship(
        back_populates="channel",
        order_by="AlertSubscription.created_at",
        cascade="all, delete-orphan",
    )


class SubscriptionStatus:
    # Waiting for its address to follow the confirmation link: receives nothing.
    PENDING = "pending"
    ACTIVE = "active"


class AlertSubscription(Base):
    """One target on a channel. Empty narrowing lists mean "everything"."""

    __tablename__ = "alert_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    channel_id: Mapped[str] = mapped_column(
        ForeignKey("alert_channels.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # email | webhook
    target: Mapped[str] = mapped_column(String(500))
    format: Mapped[str] = mapped_column(String(20), default="generic")  # generic|slack|teams
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    workflows: Mapped[list[str]] = mapped_column(JSON, default=list)
    workflow_tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Databricks jobs (ids or names, as strings) and job tags: naming either is what makes
    # a subscription hear jobs Lockgate did not start (``service.policies.alerting``).
    jobs: Mapped[list[str]] = mapped_column(JSON, default=list)
    job_tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Self-service email subscriptions start ``pending`` and hear nothing until the address
    # confirms (``service.alerts._optin``); those made through the API are ``active``.
    status: Mapped[str] = mapped_column(String(20), default=SubscriptionStatus.ACTIVE)
    # The confirmation link names this nonce: a new request replaces it (older links stop
    # working) and confirming clears it (a link works once).
    confirm_nonce: Mapped[str | None] = mapped_column(String(64), default=None)
    confirm_sent_at: Mapped[datetime | None] = mapped_column(default=None)
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)
    # Who asked for it in the console (the API key's name): the confirmation mail says so.
    requested_by: Mapped[str | None] = mapped_column(String(100), default=None)

    channel: Mapped[AlertChannel] = relationship(back_populates="subscriptions")


class AlertAttempt(Base):
    """One try at sending one delivery: the history an operator reads."""

    __tablename__ = "alert_attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    delivery_id: Mapped[str] = mapped_column(
        ForeignKey("alert_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    outcome: Mapped[str] = mapped_column(String(20))  # delivered | retry | dead
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)

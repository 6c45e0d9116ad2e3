"""Named alert channels and their subscriptions (keyword-only; flush, never commit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from service.store.models.alerting import AlertChannel, AlertSubscription


def create_channel(session: Session, *, name: str, description: str | None) -> AlertChannel:
    channel = AlertChannel(name=name, description=description)
    session.add(channel)
    session.flush()
    return channel


def get_channel(session: Session, *, name: str) -> AlertChannel | None:
    return session.scalars(
        select(AlertChannel)
        .where(AlertChannel.name == name)
        .options(selectinload(AlertChannel.subscriptions))
    ).one_or_none()


def list_channels(session: Session) -> list[AlertChannel]:
    return list(
        session.scalars(
            select(AlertChannel)
            .options(selectinload(AlertChannel.subscriptions))
            .order_by(AlertChannel.name)
        )
    )


def delete_channel(session: Session, *, channel: AlertChannel) -> None:
    session.delete(channel)
    session.flush()


def add_subscription(
    session: Session,
    *,
    channel: AlertChannel,
    kind: str,
    target: str,
    format: str,
    event_types: list[str],
    workflows: list[str],
    workflow_tags: dict[str, Any],
    jobs: list[str] | None = None,
    job_tags: dict[str, Any] | None = None,
) -> AlertSubscription:
    subscription = AlertSubscription(
        channel_id=channel.id,
        kind=kind,
        target=target,
        format=format,
        event_types=event_types,
        workflows=workflows,
        workflow_tags=workflow_tags,
        jobs=list(jobs or []),
        job_tags=dict(job_tags or {}),
    )
    session.add(subscription)
    session.flush()
    session.refresh(channel, attribute_names=["subscriptions"])
    return subscription


def get_subscription(
    session: Session, *, channel: AlertChannel, subscription_id: str
) -> AlertSubscription | None:
    return session.scalars(
        select(AlertSubscription).where(
            AlertSubscription.id == subscription_id, AlertSubscription.channel_id == channel.id
        )
    ).one_or_none()


def delete_subscription(session: Session, *, subscription: AlertSubscription) -> None:
    session.delete(subscription)
    session.flush()


def all_subscriptions(session: Session) -> list[tuple[str, AlertSubscription]]:
    """(channel name, subscription) for every subscription: routing filters them."""
    rows = session.execute(
        select(AlertChannel.name, AlertSubscription)
        .join(AlertSubscription, AlertSubscription.channel_id == AlertChannel.id)
        .order_by(AlertChannel.name, AlertSubscription.created_at, AlertSubscription.id)
    )
    return [(name, subscription) for name, subscription in rows]

"""/api/v1/channels: named alert channels, their subscriptions, and a test alert."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, BeforeValidator, Field

from service.alerts import send_test_alert, subscription_issues
from service.api.deps import AdminAccess, ReadAccess, SenderDep, SessionDep, SettingsDep
from service.api.problems import Problem
from service.runs.queue import DELIVER_ALERT
from service.store.models.alerting import AlertChannel, AlertSubscription
from service.store.repositories import alert_channels as channels_repo

router = APIRouter(prefix="/api/v1/channels", tags=["alerting"])

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"
MAX_JOB_NAME_CHARS = 500


def _job_selector(value: object) -> str:
    """A Databricks job id (an integer, given as a number) or a job name; stored as text,
    since a route matches either against the job's id and its name."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value <= 0:
            raise ValueError("a job id is a positive integer")
        return str(value)
    if isinstance(value, str) and value.strip():
        if len(value.strip()) > MAX_JOB_NAME_CHARS:
            raise ValueError(f"a job name has at most {MAX_JOB_NAME_CHARS} characters")
        return value.strip()
    raise ValueError("must be a job id (a positive integer) or a job name (a non-empty string)")


JobSelector = Annotated[str, BeforeValidator(_job_selector)]


class ChannelCreate(BaseModel):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = Field(default=None, max_length=2000)


class SubscriptionCreate(BaseModel):
    kind: str = Field(pattern="^(email|webhook)$")
    target: str = Field(min_length=1, max_length=500)
    format: str = "generic"
    event_types: list[str] = Field(default_factory=list, description="empty: every event")
    workflows: list[str] = Field(default_factory=list, description="empty: every workflow")
    workflow_tags: dict[str, str] = Field(
        default_factory=dict, description='tags the workflow must have ("*": any value)'
    )
    jobs: list[JobSelector] = Field(
        default_factory=list,
        description="Databricks job ids or names: naming jobs or job tags makes the "
        "subscription hear those jobs' runs, also when Lockgate did not start them",
    )
    job_tags: dict[str, str] = Field(
        default_factory=dict, description='tags the Databricks job must have ("*": any value)'
    )


def subscription_view(subscription: AlertSubscription) -> dict[str, Any]:
    return {
        "id": subscription.id,
        "kind": subscription.kind,
        "target": subscription.target,
        "format": subscription.format,
        "event_types": subscription.event_types,
        "workflows": subscription.workflows,
        "workflow_tags": subscription.workflow_tags,
        "jobs": subscription.jobs,
        "job_tags": subscription.job_tags,
        # "pending": a self-service address that has not confirmed yet (hears nothing).
        "status": subscription.status,
        "created_at": subscription.created_at.isoformat(),
    }


def channel_view(channel: AlertChannel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "description": channel.description,
        "created_at": channel.created_at.isoformat(),
        "subscriptions": [subscription_view(s) for s in channel.subscriptions],
    }


def _channel_or_404(session: SessionDep, name: str) -> AlertChannel:
    channel = channels_repo.get_channel(session, name=name)
    if channel is None:
        raise Problem(404, "Unknown channel", f"no channel is named {name!r}")
    return channel


@router.post("", status_code=201)
def create_channel(body: ChannelCreate, session: SessionDep, _: AdminAccess) -> dict[str, Any]:
    if channels_repo.get_channel(session, name=body.name) is not None:
        raise Problem(409, "Channel exists", f"a channel named {body.name!r} exists")
    channel = channels_repo.create_channel(session, name=body.name, description=body.description)
    session.commit()
    return channel_view(channel)


@router.get("")
def list_channels(session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    return {"channels": [channel_view(c) for c in channels_repo.list_channels(session)]}


@router.get("/{name}")
def get_channel(name: str, session: SessionDep, _: ReadAccess) -> dict[str, Any]:
    return channel_view(_channel_or_404(session, name))


@router.delete("/{name}", status_code=204)
def delete_channel(name: str, session: SessionDep, _: AdminAccess) -> Response:
    channels_repo.delete_channel(session, channel=_channel_or_404(session, name))
    session.commit()
    return Response(status_code=204)


@router.post("/{name}/subscriptions", status_code=201)
def subscribe(
    name: str,
    body: SubscriptionCreate,
    session: SessionDep,
    settings: SettingsDep,
    _: AdminAccess,
) -> dict[str, Any]:
    channel = _channel_or_404(session, name)
    issues = subscription_issues(
        kind=body.kind,
        target=body.target,
        format=body.format,
        event_types=body.event_types,
        settings=settings,
    )
    if issues:
        raise Problem(
            422,
            "Invalid subscription",
            issues[0].message,
            errors=[{"path": i.path, "message": i.message} for i in issues],
        )
    subscription = channels_repo.add_subscription(
        session,
        channel=channel,
        kind=body.kind,
        target=body.target.strip(),
        format=body.format if body.kind == "webhook" else "generic",
        event_types=list(dict.fromkeys(body.event_types)),
        workflows=list(dict.fromkeys(body.workflows)),
        workflow_tags=body.workflow_tags,
        jobs=list(dict.fromkeys(body.jobs)),
        job_tags=body.job_tags,
    )
    session.commit()
    return subscription_view(subscription)


@router.delete("/{name}/subscriptions/{subscription_id}", status_code=204)
def unsubscribe(name: str, subscription_id: str, session: SessionDep, _: AdminAccess) -> Response:
    channel = _channel_or_404(session, name)
    subscription = channels_repo.get_subscription(
        session, channel=channel, subscription_id=subscription_id
    )
    if subscription is None:
        raise Problem(
            404, "Unknown subscription", f"channel {name!r} has no subscription {subscription_id!r}"
        )
    channels_repo.delete_subscription(session, subscription=subscription)
    session.commit()
    return Response(status_code=204)


@router.post("/{name}/test", status_code=202)
def test_alert(
    name: str,
    session: SessionDep,
    settings: SettingsDep,
    sender: SenderDep,
    _: AdminAccess,
) -> dict[str, Any]:
    channel = _channel_or_404(session, name)
    if not channel.subscriptions:
        raise Problem(409, "No subscriptions", f"channel {name!r} has nobody to send to")
    delivery_ids = send_test_alert(session, channel=channel, settings=settings)
    session.commit()
    # Committed first, then nudged: a lost message is re-sent by the sweeper.
    for delivery_id in delivery_ids:
        sender.send(DELIVER_ALERT, delivery_id)
    return {"delivery_ids": delivery_ids}

"""Double opt-in and one-click unsubscribe against a real store (SQLite and PostgreSQL)
and a real SMTP server: a pending subscription hears nothing, its link activates it once,
an older or expired link changes nothing, and unsubscribing removes only its own row."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session, sessionmaker

from service.alerts import (
    SubscribeRefused,
    SubscriptionGone,
    TokenExpired,
    TokenInvalid,
    confirm_subscription,
    request_subscription,
    send_test_alert,
    subscription_routes,
    subscription_to_confirm,
    unsubscribe,
    unsubscribe_url,
)
from service.alerts._optin_tokens import make_token
from service.settings import Settings
from service.store.models import utcnow
from service.store.models.alerting import AlertChannel, AlertSubscription, SubscriptionStatus
from service.store.repositories import alert_channels as channels_repo
from tests.alerts.conftest import SMTPFixture

LINK = re.compile(r"https?://\S+/ui/subscriptions/confirm\?token=[\w.-]+")


@pytest.fixture
def settings(make_settings: Callable[..., Settings], smtp_server: SMTPFixture) -> Settings:
    return make_settings(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        public_url="https://lockgate.example.com",
        subscription_secret="optin-test-secret",
    )


def _channel(sessions: sessionmaker[Session], name: str = "etl-failures") -> None:
    with sessions.begin() as session:
        channels_repo.create_channel(session, name=name, description=None)


def _request(sessions: sessionmaker[Session], settings: Settings, address: str, **kw: Any) -> str:
    with sessions.begin() as session:
        channel = channels_repo.get_channel(session, name=kw.pop("channel", "etl-failures"))
        assert channel is not None
        return request_subscription(
            session,
            channel=channel,
            address=address,
            requested_by="alice-key",
            settings=settings,
            now=kw.pop("now", utcnow()),
        ).subscription_id


def _add_active_email(session: Session, channel: AlertChannel, address: str) -> None:
    """A subscription made by an admin (API or CLI): active at once, no confirmation."""
    channels_repo.add_subscription(
        session,
        channel=channel,
        kind="email",
        target=address,
        format="generic",
        event_types=[],
        workflows=[],
        workflow_tags={},
    )


def _mail(smtp: SMTPFixture, index: int = -1) -> EmailMessage:
    message = message_from_bytes(smtp.messages[index].content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _confirm_token(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    [link] = LINK.findall(body.get_content())
    return parse_qs(urlsplit(link).query)["token"][0]


def _status(sessions: sessionmaker[Session], subscription_id: str) -> str | None:
    with sessions() as session:
        row = session.get(AlertSubscription, subscription_id)
        return row.status if row is not None else None


def _routed_targets(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return sorted(route.target for route in subscription_routes(session))


def test_a_request_is_pending_until_its_mailed_link_is_followed(
    sessions: sessionmaker[Session], settings: Settings, smtp_server: SMTPFixture
) -> None:
    _channel(sessions)
    subscription_id = _request(sessions, settings, "Ana <ana@example.com>")

    [received] = smtp_server.messages
    assert received.rcpt_tos == ["ana@example.com"]
    mail = _mail(smtp_server)
    assert mail["Subject"] == "[Lockgate] Confirm your subscription to etl-failures"
    assert mail["List-Unsubscribe"] is None  # nothing to leave yet
    assert "alice-key" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert _status(sessions, subscription_id) == SubscriptionStatus.PENDING
    assert _routed_targets(sessions) == []  # pending: routing never sees it

    token = _confirm_token(mail)
    with sessions.begin() as session:
        confirmed = confirm_subscription(session, token=token, settings=settings, now=utcnow())
        assert confirmed.target == "ana@example.com"
    assert _status(sessions, subscription_id) == SubscriptionStatus.ACTIVE
    assert _routed_targets(sessions) == ["ana@example.com"]
    # The same link again: already active, not an error, and nothing changes.
    with sessions.begin() as session:
        again = subscription_to_confirm(session, token=token, settings=settings, now=utcnow())
        assert again.status == SubscriptionStatus.ACTIVE and again.confirm_nonce is None


def test_an_expired_or_replaced_link_changes_nothing(
    sessions: sessionmaker[Session], settings: Settings, smtp_server: SMTPFixture
) -> None:
    _channel(sessions)
    start = utcnow() - timedelta(minutes=5)
    subscription_id = _request(sessions, settings, "bo@example.com", now=start)
    first = _confirm_token(_mail(smtp_server))

    with sessions.begin() as session, pytest.raises(TokenExpired):
        later = start + timedelta(seconds=settings.subscription_confirm_seconds + 1)
        confirm_subscription(session, token=first, settings=settings, now=later)
    assert _status(sessions, subscription_id) == SubscriptionStatus.PENDING

    # Asking again a minute later sends a new link that voids the first one.
    assert _request(sessions, settings, "BO@example.com") == subscription_id
    assert len(smtp_server.messages) == 2
    with sessions.begin() as session, pytest.raises(TokenInvalid, match="newer"):
        confirm_subscription(session, token=first, settings=settings, now=utcnow())
    assert _status(sessions, subscription_id) == SubscriptionStatus.PENDING

    # A genuine signature over another subscription's id finds no such subscription.
    forged = make_token(
        settings,
        purpose="confirm",
        subscription_id="no-such-subscription",
        nonce="x",
        expires_at=utcnow() + timedelta(hours=1),
    )
    with sessions.begin() as session, pytest.raises(SubscriptionGone):
        confirm_subscription(session, token=forged, settings=settings, now=utcnow())

    with sessions.begin() as session:
        confirm_subscription(
            session, token=_confirm_token(_mail(smtp_server)), settings=settings, now=utcnow()
        )
    assert _status(sessions, subscription_id) == SubscriptionStatus.ACTIVE


def test_asking_again_at_once_sends_nothing_and_bad_addresses_are_refused(
    sessions: sessionmaker[Session], settings: Settings, smtp_server: SMTPFixture
) -> None:
    _channel(sessions)
    _request(sessions, settings, "cy@example.com")
    with pytest.raises(SubscribeRefused, match="less than a minute") as caught:
        _request(sessions, settings, "cy@example.com")
    assert caught.value.path == "$.address"
    for bad in ("not-an-address", "a@example.com, b@example.com", "", "x@y\r\nBcc: z@w"):
        with pytest.raises(SubscribeRefused):
            _request(sessions, settings, bad)
    assert len(smtp_server.messages) == 1


def test_an_already_active_address_gets_no_new_mail(
    sessions: sessionmaker[Session], settings: Settings, smtp_server: SMTPFixture
) -> None:
    _channel(sessions)
    with sessions.begin() as session:
        channel = channels_repo.get_channel(session, name="etl-failures")
        assert channel is not None
        _add_active_email(session, channel, "ops@example.com")
        outcome = request_subscription(
            session,
            channel=channel,
            address="Ops@Example.com",
            requested_by=None,
            settings=settings,
            now=utcnow(),
        )
    assert outcome.outcome == "active"
    assert smtp_server.messages == []


def test_unsubscribing_removes_only_the_subscription_the_link_names(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _channel(sessions, "etl-failures")
    _channel(sessions, "nightly")
    ids: dict[tuple[str, str], str] = {}
    with sessions.begin() as session:
        for name in ("etl-failures", "nightly"):
            channel = channels_repo.get_channel(session, name=name)
            assert channel is not None
            for address in ("dee@example.com", "eve@example.com"):
                ids[(name, address)] = channels_repo.add_subscription(
                    session,
                    channel=channel,
                    kind="email",
                    target=address,
                    format="generic",
                    event_types=[],
                    workflows=[],
                    workflow_tags={},
                ).id
    leaving = ids[("nightly", "dee@example.com")]
    token = parse_qs(urlsplit(unsubscribe_url(settings, subscription_id=leaving)).query)["token"]
    with sessions.begin() as session:
        removed = unsubscribe(session, token=token[0], settings=settings, now=utcnow())
    assert removed is not None and (removed.channel, removed.address) == (
        "nightly",
        "dee@example.com",
    )
    assert {key for key, value in ids.items() if _status(sessions, value)} == {
        ("etl-failures", "dee@example.com"),
        ("etl-failures", "eve@example.com"),
        ("nightly", "eve@example.com"),
    }
    with sessions.begin() as session:  # the link again: already gone, nothing else changes
        assert unsubscribe(session, token=token[0], settings=settings, now=utcnow()) is None
    with sessions.begin() as session, pytest.raises(TokenInvalid):
        unsubscribe(session, token=token[0][:-3] + "abc", settings=settings, now=utcnow())
    assert len(_routed_targets(sessions)) == 3


def test_a_test_alert_skips_pending_subscriptions(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    _channel(sessions)
    _request(sessions, settings, "pending@example.com")
    with sessions.begin() as session:
        channel = channels_repo.get_channel(session, name="etl-failures")
        assert channel is not None
        _add_active_email(session, channel, "active@example.com")
        session.refresh(channel)
        assert len(send_test_alert(session, channel=channel, settings=settings)) == 1

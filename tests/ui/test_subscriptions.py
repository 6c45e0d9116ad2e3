"""Self-service subscriptions through the served console (uvicorn, real Redis sessions) and
a real SMTP server: the confirmation mail's link activates the subscription, an alert then
reaches it with one-click unsubscribe headers, and the one-click POST removes only it."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from service.alerts import send_test_alert
from service.alerts._optin_tokens import make_token
from service.runs.delivery import deliver_alert
from service.store.models import utcnow
from service.store.models.alerting import AlertSubscription, SubscriptionStatus
from service.store.repositories import alert_channels as channels_repo
from tests.servers import SmtpInbox, smtp_server
from tests.ui.conftest import Console, csrf_of

CONFIRM_LINK = re.compile(r"https?://\S+/ui/subscriptions/confirm\?token=[\w.-]+")


@pytest.fixture
def inbox() -> Iterator[SmtpInbox]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def console(make_console: Callable[..., Console], inbox: SmtpInbox) -> Console:
    console = make_console(
        smtp_host=inbox.host,
        smtp_port=inbox.port,
        subscription_secret="ui-subscription-secret",
        mail_from="Lockgate <lockgate@alerts.example.com>",
    )
    with console.sessions.begin() as session:
        channel = channels_repo.create_channel(session, name="etl-failures", description=None)
        channels_repo.add_subscription(
            session,
            channel=channel,
            kind="email",
            target="team@example.com",
            format="generic",
            event_types=[],
            workflows=[],
            workflow_tags={},
        )
    return console


def _subscribe(console: Console, client: httpx.Client, address: str) -> httpx.Response:
    return console.post_form(
        client, "/ui/subscribe", "/ui/subscribe", {"channel": "etl-failures", "address": address}
    )


def _path(url: str) -> str:
    """The link's path and query: the console here is not at ``public_url``."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def _confirm_link(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    [link] = CONFIRM_LINK.findall(body.get_content())
    return link


def _subscriptions(console: Console) -> dict[str, str]:
    """target -> status of every subscription."""
    with console.sessions() as session:
        rows = session.query(AlertSubscription).all()
        return {row.target: row.status for row in rows}


def _deliver_test_alert(console: Console) -> list[str]:
    with console.sessions.begin() as session:
        channel = channels_repo.get_channel(session, name="etl-failures")
        assert channel is not None
        delivery_ids = send_test_alert(session, channel=channel, settings=console.settings)
    for delivery_id in delivery_ids:
        assert deliver_alert(console.sessions, console.settings, delivery_id=delivery_id) == (
            "delivered"
        )
    return delivery_ids


def test_subscribe_confirm_receive_and_unsubscribe_in_one_click(
    console: Console, inbox: SmtpInbox
) -> None:
    client = console.signed_in("read")  # subscribing needs no more than a sign-in
    page = client.get("/ui/subscribe")
    assert page.status_code == 200
    assert '<option value="etl-failures">etl-failures</option>' in page.text
    assert 'for="address"' in page.text and 'for="channel"' in page.text  # labelled

    sent = _subscribe(console, client, "dee@example.com")
    assert sent.status_code == 303
    assert sent.headers["location"] == "/ui/subscribe?channel=etl-failures&sent=dee%40example.com"
    assert "confirmation mail is on its way" in client.get(sent.headers["location"]).text
    _subscribe(console, console.signed_in("read"), "pending@example.com")  # never confirmed

    [(to_dee, mail), (to_pending, _)] = inbox.wait_for(2)
    assert (to_dee, to_pending) == (["dee@example.com"], ["pending@example.com"])
    assert "read-person" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = _confirm_link(mail)

    stranger = console.client()  # the address owner: no Lockgate key, no cookies
    shown = stranger.get(_path(link))
    assert shown.status_code == 200
    assert "Content-Security-Policy" in shown.headers
    assert 'action="/ui/subscriptions/confirm"' in shown.text
    assert _subscriptions(console)["dee@example.com"] == SubscriptionStatus.PENDING  # GET: no-op
    token = parse_qs(urlsplit(link).query)["token"][0]
    done = stranger.post("/ui/subscriptions/confirm", data={"token": token})
    assert done.status_code == 200, done.text
    assert "dee@example.com now receives the alerts of channel etl-failures" in done.text
    assert _subscriptions(console) == {
        "team@example.com": SubscriptionStatus.ACTIVE,
        "dee@example.com": SubscriptionStatus.ACTIVE,
        "pending@example.com": SubscriptionStatus.PENDING,
    }

    _deliver_test_alert(console)
    alerts = {rcpts[0]: message for rcpts, message in inbox.wait_for(4)[2:]}
    assert sorted(alerts) == ["dee@example.com", "team@example.com"]  # pending: nothing
    header = alerts["dee@example.com"]["List-Unsubscribe"]
    assert alerts["dee@example.com"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert header.startswith("<") and header.endswith(">")
    unsubscribe = _path(header[1:-1])
    assert alerts["team@example.com"]["List-Unsubscribe"] != header  # each its own link

    confirm_page = stranger.get(unsubscribe)
    assert confirm_page.status_code == 200
    assert 'name="List-Unsubscribe" value="One-Click"' in confirm_page.text
    assert "dee@example.com" in _subscriptions(console)  # a GET (a mail scanner) changes nothing

    # What a mail client does (RFC 8058): POST the body, no cookies, no CSRF token.
    one_click = httpx.post(
        console.url + unsubscribe,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert one_click.status_code == 200, one_click.text
    assert "no longer receives the alerts of channel etl-failures" in one_click.text
    assert _subscriptions(console) == {
        "team@example.com": SubscriptionStatus.ACTIVE,
        "pending@example.com": SubscriptionStatus.PENDING,
    }
    again = httpx.post(console.url + unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and "no longer exists" in again.text

    # Multipart, as RFC 8058 recommends senders of the POST use, works the same way.
    team_link = _path(alerts["team@example.com"]["List-Unsubscribe"][1:-1])
    multipart = httpx.post(console.url + team_link, files={"List-Unsubscribe": (None, "One-Click")})
    assert multipart.status_code == 200
    assert _subscriptions(console) == {"pending@example.com": SubscriptionStatus.PENDING}


def _pending(console: Console, inbox: SmtpInbox) -> tuple[str, str]:
    assert _subscribe(console, console.signed_in("read"), "eve@example.com").status_code == 303
    [(_, mail)] = inbox.wait_for(1)
    token = parse_qs(urlsplit(_confirm_link(mail)).query)["token"][0]
    with console.sessions() as session:
        [row] = [s for s in session.query(AlertSubscription) if s.target == "eve@example.com"]
        assert row.confirm_nonce is not None
        return token, row.confirm_nonce


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_tampered_expired_and_misused_links_are_refused_and_change_nothing(
    console: Console, inbox: SmtpInbox, method: str
) -> None:
    token, nonce = _pending(console, inbox)
    with console.sessions() as session:
        [subscription_id] = [
            s.id for s in session.query(AlertSubscription) if s.target == "eve@example.com"
        ]
    expired = make_token(
        console.settings,
        purpose="confirm",
        subscription_id=subscription_id,
        nonce=nonce,
        expires_at=utcnow() - timedelta(seconds=1),
    )
    body, _, signature = token.partition(".")
    tampered = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + signature
    stranger = console.client()

    def confirm(value: str) -> httpx.Response:
        if method == "GET":
            return stranger.get("/ui/subscriptions/confirm", params={"token": value})
        return stranger.post("/ui/subscriptions/confirm", data={"token": value})

    assert confirm(tampered).status_code == 400
    assert confirm("").status_code == 400
    gone = confirm(expired)
    assert gone.status_code == 410 and "expired" in gone.text
    # A confirmation link is no unsubscribe link, and the other way round.
    if method == "GET":
        refused = stranger.get("/ui/unsubscribe", params={"token": token})
    else:
        refused = stranger.post("/ui/unsubscribe", params={"token": token})
    assert refused.status_code == 400
    assert _subscriptions(console)["eve@example.com"] == SubscriptionStatus.PENDING
    assert confirm(token).status_code == 200  # the genuine link still works afterwards


def test_subscribing_needs_a_sign_in_a_csrf_token_and_good_fields(
    console: Console, inbox: SmtpInbox
) -> None:
    anonymous = console.client()
    redirected = anonymous.get("/ui/subscribe")
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "/ui/sign-in?next=%2Fui%2Fsubscribe"
    refused = anonymous.post(
        "/ui/subscribe", data={"channel": "etl-failures", "address": "x@example.com"}
    )
    assert refused.status_code in (401, 403)

    client = console.signed_in("read")
    no_csrf = client.post(
        "/ui/subscribe", data={"channel": "etl-failures", "address": "x@example.com"}
    )
    assert no_csrf.status_code == 403

    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"channel": "nope", "address": "x@example.com"}, 400, "$.channel: no channel"),
        ({"channel": "", "address": "x@example.com"}, 400, "$.channel: choose a channel"),
        ({"channel": "etl-failures", "address": "not an address"}, 400, "$.address"),
        ({"channel": "etl-failures", "address": "a" * 400 + "@x.io"}, 400, "$.address"),
        ({"channel": "etl-failures", "address": "<script>alert(1)</script>"}, 400, "$.address"),
    ]
    for data, status, words in cases:
        page = client.get("/ui/subscribe")
        response = client.post("/ui/subscribe", data={"csrf_token": csrf_of(page.text), **data})
        assert response.status_code == status, (data, response.text)
        assert words in response.text.replace("&#39;", "'")
        assert "<script>alert(1)</script>" not in response.text
    assert inbox.messages == []
    assert set(_subscriptions(console)) == {"team@example.com"}

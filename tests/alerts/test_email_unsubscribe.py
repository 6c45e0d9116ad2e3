"""Alert mail to a channel subscription carries RFC 8058 one-click unsubscribe headers (as
one unencoded line a mail client can read) and the same link in its body; mail to a
workflow's inline recipients carries none, and says where the address comes from."""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

from service.alerts import deliver
from service.alerts._optin_tokens import read_token
from service.settings import Settings
from service.store.models import utcnow
from tests.alerts.conftest import SMTPFixture


def _send(
    settings: Settings, smtp: SMTPFixture, payload: dict[str, Any], **kw: Any
) -> tuple[bytes, EmailMessage]:
    deliver(
        channel="email",
        target="dee@example.com",
        payload=payload,
        delivery_id="dlv-1",
        settings=settings,
        **kw,
    )
    content = smtp.messages[-1].content
    message = message_from_bytes(content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return content, message


def _texts(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None
    return plain.get_content(), html.get_content()


def test_a_subscription_mail_has_one_click_unsubscribe(
    make_settings: Callable[..., Settings],
    smtp_server: SMTPFixture,
    failed_run_payload: dict[str, Any],
) -> None:
    settings = make_settings(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        public_url="https://lockgate.example.com",
        subscription_secret="header-test-secret",
    )
    payload = {**failed_run_payload, "alert": {"channel": "etl-failures"}}
    content, message = _send(settings, smtp_server, payload, subscription_id="sub-42")

    # One physical header line each: no folding, no RFC 2047 encoded-words.
    lines = content.decode().splitlines()
    [header] = [line for line in lines if line.startswith("List-Unsubscribe:")]
    assert "=?" not in header and header.endswith(">")
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    url = header.removeprefix("List-Unsubscribe: <").removesuffix(">")
    assert url.startswith("https://lockgate.example.com/ui/unsubscribe?token=")
    token = parse_qs(urlsplit(url).query)["token"][0]
    claims = read_token(settings, token, purpose="unsubscribe", now=utcnow())
    assert claims.subscription_id == "sub-42"

    plain, html = _texts(message)
    assert f"This address is subscribed to channel etl-failures. Unsubscribe: {url}" in plain
    assert f'<a href="{url}">Unsubscribe</a>' in html.replace("&amp;", "&")


def test_an_inline_recipient_gets_no_unsubscribe_header(
    make_settings: Callable[..., Settings],
    smtp_server: SMTPFixture,
    failed_run_payload: dict[str, Any],
) -> None:
    settings = make_settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port)
    _, message = _send(settings, smtp_server, failed_run_payload)
    assert message["List-Unsubscribe"] is None
    assert message["List-Unsubscribe-Post"] is None
    plain, html = _texts(message)
    assert "workflow comprehensive-etl-pipeline; its owners can remove it" in plain
    assert "/ui/unsubscribe" not in plain + html


def test_production_without_a_subscription_secret_still_delivers(
    make_settings: Callable[..., Settings],
    smtp_server: SMTPFixture,
    failed_run_payload: dict[str, Any],
) -> None:
    settings = make_settings(
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        environment="production",
        databricks_host="https://adb-1.azuredatabricks.net",
    )
    _, message = _send(settings, smtp_server, failed_run_payload, subscription_id="sub-42")
    # Better an alert without the link than a lost alert, or a link anyone could forge.
    assert message["Subject"].startswith("[Lockgate]")
    assert message["List-Unsubscribe"] is None

"""The email channel against a real SMTP server (aiosmtpd) and the local mailbox folder."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

from service.alerts import DeliveryError, deliver
from service.settings import Settings
from tests.alerts.conftest import SMTP_PASSWORD, SMTP_USER, SMTPFixture

SUBJECT = (
    "[Lockgate] FAILED: comprehensive-etl-pipeline run run-7f3a"
    " - data-validation: ValueError: 17 rows without customer_id"
)


def parse(content: bytes) -> EmailMessage:
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def assert_names_the_failure(message: EmailMessage) -> None:
    assert message["Subject"] == SUBJECT
    body = body_of(message)
    assert "comprehensive-etl-pipeline" in body
    assert "run-7f3a" in body
    assert "data-validation [FAILED]" in body
    assert "ValueError: 17 rows without customer_id" in body
    assert "load-warehouse [UPSTREAM_FAILED]" in body
    assert "Open in Databricks: http://127.0.0.1:8091/#job/7/run/4242" in body
    assert "Open in Lockgate: https://lockgate.example.com/api/v1/runs/run-7f3a" in body
    assert "4242" in body
    assert "3m 5s" in body


def test_email_arrives_over_smtp(
    smtp_server: SMTPFixture,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
) -> None:
    settings = make_settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port)

    deliver(
        channel="email",
        target="data-team@company.com",
        payload=failed_run_payload,
        delivery_id="dlv-1",
        settings=settings,
    )

    [mail] = smtp_server.messages
    assert mail.mail_from == "lockgate@alerts.example.com"
    assert mail.rcpt_tos == ["data-team@company.com"]
    message = parse(mail.content)
    assert message["To"] == "data-team@company.com"
    assert message["From"] == "Lockgate <lockgate@alerts.example.com>"
    assert message["Message-ID"] == "<dlv-1@alerts.example.com>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Lockgate-Event"] == "run.failed"
    assert_names_the_failure(message)
    assert not settings.mailbox_dir.exists()


def test_without_smtp_host_the_email_goes_to_the_mailbox_folder(
    make_settings: Callable[..., Settings], failed_run_payload: dict[str, Any]
) -> None:
    settings = make_settings(smtp_host=None)

    for _ in range(2):  # a retried delivery replaces its file, it does not add one
        deliver(
            channel="email",
            target="data-team@company.com",
            payload=failed_run_payload,
            delivery_id="dlv/2",
            settings=settings,
        )

    [path] = settings.mailbox_dir.iterdir()
    assert path.name == "dlv_2.eml"
    message = parse(path.read_bytes())
    assert message["To"] == "data-team@company.com"
    assert_names_the_failure(message)


def test_starttls_and_login(
    tls_smtp_server: SMTPFixture,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
) -> None:
    settings = make_settings(
        smtp_host=tls_smtp_server.host,
        smtp_port=tls_smtp_server.port,
        smtp_starttls=True,
        smtp_username=SMTP_USER,
        smtp_password=SMTP_PASSWORD,
    )

    deliver(
        channel="email",
        target="oncall@company.com",
        payload=failed_run_payload,
        delivery_id="dlv-tls",
        settings=settings,
    )

    [mail] = tls_smtp_server.messages
    assert mail.rcpt_tos == ["oncall@company.com"]
    assert parse(mail.content)["Subject"] == SUBJECT


@pytest.mark.parametrize(
    ("overrides", "status", "transient"),
    [
        # The server insists on STARTTLS before AUTH / MAIL: a settings problem.
        ({"smtp_starttls": False, "smtp_username": None}, 530, False),
        ({"smtp_starttls": True, "smtp_username": SMTP_USER, "smtp_password": "wrong"}, 535, False),
    ],
)
def test_tls_server_refusals_are_permanent(
    tls_smtp_server: SMTPFixture,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
    overrides: dict[str, Any],
    status: int,
    transient: bool,
) -> None:
    settings = make_settings(
        smtp_host=tls_smtp_server.host, smtp_port=tls_smtp_server.port, **overrides
    )

    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="email",
            target="oncall@company.com",
            payload=failed_run_payload,
            delivery_id="dlv-x",
            settings=settings,
        )

    assert (caught.value.status, caught.value.transient) == (status, transient)
    assert "wrong" not in str(caught.value) and SMTP_PASSWORD not in str(caught.value)
    assert tls_smtp_server.messages == []


@pytest.mark.parametrize(
    ("target", "status", "transient"),
    [
        ("tempfail@company.com", 451, True),
        ("nosuchuser@company.com", 550, False),
    ],
)
def test_smtp_reply_codes_decide_transience(
    smtp_server: SMTPFixture,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
    target: str,
    status: int,
    transient: bool,
) -> None:
    settings = make_settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port)

    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="email",
            target=target,
            payload=failed_run_payload,
            delivery_id="dlv-3",
            settings=settings,
        )

    assert caught.value.status == status
    assert caught.value.transient is transient
    assert smtp_server.messages == []


def test_refused_connection_is_transient(
    refused_port: int, make_settings: Callable[..., Settings], failed_run_payload: dict[str, Any]
) -> None:
    settings = make_settings(smtp_host="127.0.0.1", smtp_port=refused_port)

    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="email",
            target="data-team@company.com",
            payload=failed_run_payload,
            delivery_id="dlv-4",
            settings=settings,
        )

    assert caught.value.transient is True
    assert "ConnectionRefusedError" in str(caught.value)


def test_server_that_never_greets_times_out_transiently(
    silent_port: int, make_settings: Callable[..., Settings], failed_run_payload: dict[str, Any]
) -> None:
    settings = make_settings(smtp_host="127.0.0.1", smtp_port=silent_port, smtp_timeout_seconds=0.2)

    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="email",
            target="data-team@company.com",
            payload=failed_run_payload,
            delivery_id="dlv-5",
            settings=settings,
        )

    assert caught.value.transient is True


@pytest.mark.parametrize(
    "target", ["not-an-address", "a@company.com, b@company.com", "x@company.com\r\nBcc: e@vil.com"]
)
def test_malformed_addresses_are_permanent_and_nothing_is_sent(
    smtp_server: SMTPFixture,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
    target: str,
) -> None:
    settings = make_settings(smtp_host=smtp_server.host, smtp_port=smtp_server.port)

    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="email",
            target=target,
            payload=failed_run_payload,
            delivery_id="dlv-6",
            settings=settings,
        )

    assert caught.value.transient is False
    assert smtp_server.messages == []


def test_subject_stays_one_line_when_names_carry_line_breaks(
    make_settings: Callable[..., Settings], failed_run_payload: dict[str, Any]
) -> None:
    settings = make_settings(smtp_host=None)
    payload = {**failed_run_payload, "workflow": {"name": "etl\r\nBcc: e@vil.com"}}

    deliver(
        channel="email",
        target="data-team@company.com",
        payload=payload,
        delivery_id="dlv-7",
        settings=settings,
    )

    message = parse((settings.mailbox_dir / "dlv-7.eml").read_bytes())
    assert message["Subject"].startswith("[Lockgate] FAILED: etl Bcc: e@vil.com run run-7f3a")
    assert message["Bcc"] is None


def test_minimal_payload_still_renders(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(smtp_host=None)

    deliver(
        channel="email",
        target="data-team@company.com",
        payload={"event_type": "run.succeeded"},
        delivery_id="dlv-8",
        settings=settings,
    )

    message = parse((settings.mailbox_dir / "dlv-8.eml").read_bytes())
    assert message["Subject"] == "[Lockgate] run.succeeded: no workflow"
    assert "No failed tasks." in body_of(message)

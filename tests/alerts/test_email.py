"""The email channel against a real SMTP server (aiosmtpd) and the local mailbox folder."""

from __future__ import annotations

import email
import email.policy
import html
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest

from service.alerts import DeliveryError, deliver
from service.alerts._chat_formats import slack_message, teams_message
from service.alerts._email_message import render_email
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
    lines = body.splitlines()
    # The attempt, the state and the trigger that started the run, each on its own line.
    assert "Attempt:        1" in lines
    assert "State:          FAILED" in lines
    assert "Trigger:        schedule nightly" in lines


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


def test_the_html_part_carries_the_same_facts_escaped(failed_run_payload: dict[str, Any]) -> None:
    payload = {
        **failed_run_payload,
        "failed_tasks": [
            {
                "task_key": "data-validation",
                "result_state": "FAILED",
                "error": "<script>alert('x')</script> & more",
            }
        ],
    }
    message = render_email(
        payload, to="a@company.com", sender="lockgate@alerts.example.com", delivery_id="d-h"
    )
    html_part = message.get_body(("html",))
    assert html_part is not None and html_part.get_content_type() == "text/html"
    html = html_part.get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "<th align='left'>Attempt</th><td>1</td>" in html
    assert "<th align='left'>Trigger</th><td>schedule nightly</td>" in html
    # The plain part keeps the text as written: it is not markup.
    assert "<script>alert('x')</script> & more" in body_of(message)


def running(payload: dict[str, Any], event_type: str, **detail: Any) -> dict[str, Any]:
    """``payload`` as emitted for an event of a run that has not ended."""
    run = {**payload["run"], "result_state": "RUNNING", "ended_at": None}
    return {**payload, "event_type": event_type, "run": run, "detail": detail}


NOT_AN_ENDING = [
    (
        "run.duration_warning",
        {"limit_seconds": 60.0, "elapsed_seconds": 95},
        "Duration warning (95 s > 60 s): comprehensive-etl-pipeline run run-7f3a",
    ),
    (
        "run.retrying",
        {"next_attempt": 2, "max_attempts": 3, "mode": "resubmit"},
        "Retrying (attempt 2 of 3): comprehensive-etl-pipeline run run-7f3a"
        " - data-validation: ValueError: 17 rows without customer_id",
    ),
    (
        "run.retries_exhausted",
        {"attempts": 3, "retries_exhausted": "FAILED after 3 of 3 attempts"},
        "Retries exhausted (after 3 attempts): comprehensive-etl-pipeline run run-7f3a"
        " - data-validation: ValueError: 17 rows without customer_id",
    ),
    ("run.started", {}, "Started: comprehensive-etl-pipeline run run-7f3a"),
]


@pytest.mark.parametrize(("event_type", "detail", "expected"), NOT_AN_ENDING)
def test_events_that_are_not_an_ending_lead_with_the_event(
    failed_run_payload: dict[str, Any], event_type: str, detail: dict[str, Any], expected: str
) -> None:
    payload = running(failed_run_payload, event_type, **detail)
    if event_type in ("run.duration_warning", "run.started"):
        payload["failed_tasks"] = []
    message = render_email(
        payload, to="a@company.com", sender="lockgate@alerts.example.com", delivery_id="d-e"
    )
    assert message["Subject"] == f"[Lockgate] {expected}"
    # Slack's fallback text is mrkdwn: its ">" is written as an entity.
    assert slack_message(payload)["text"] == html.escape(expected, quote=False)
    body = body_of(message)
    for key, value in detail.items():
        label = key.replace("_", " ").capitalize() + ":"
        assert f"{label:<16}{value}" in body.splitlines()


def test_an_ending_still_leads_with_its_state(failed_run_payload: dict[str, Any]) -> None:
    timed_out = {
        **failed_run_payload,
        "event_type": "run.timed_out",
        "run": {**failed_run_payload["run"], "result_state": "TIMEDOUT"},
    }
    assert slack_message(timed_out)["text"].startswith("TIMEDOUT: comprehensive-etl-pipeline")


def test_slack_and_teams_show_the_event_detail_and_the_folded_repeats(
    failed_run_payload: dict[str, Any],
) -> None:
    payload = {
        **running(failed_run_payload, "run.duration_warning", limit_seconds=60, elapsed_seconds=95),
        "suppressed_since_last_alert": 4,
    }
    slack = slack_message(payload)
    fields = [f["text"] for b in slack["blocks"] for f in b.get("fields", [])]
    # Attempt, state and trigger, as the email has them.
    assert {"*Attempt*\n1", "*State*\nRUNNING", "*Trigger*\nschedule nightly"} <= set(fields)
    texts = [b["text"]["text"] for b in slack["blocks"] if b["type"] == "section" and "text" in b]
    assert "*Suppressed since last alert:* 4\n*Limit seconds:* 60\n*Elapsed seconds:* 95" in texts
    card = teams_message(payload)["attachments"][0]["content"]
    [fact_set] = [e for e in card["body"] if e["type"] == "FactSet"]
    teams_facts = {f["title"]: f["value"] for f in fact_set["facts"]}
    assert teams_facts["Suppressed since last alert"] == "4"
    assert (teams_facts["Limit seconds"], teams_facts["Elapsed seconds"]) == ("60", "95")
    assert teams_facts["Attempt"] == "1" and teams_facts["Trigger"] == "schedule nightly"
    # Nothing folded, nothing said about it.
    quiet = slack_message({**payload, "suppressed_since_last_alert": 0})
    assert "Suppressed" not in str(quiet)

"""The email channel: one alert to one address, over SMTP or into the local mailbox folder.

With ``settings.smtp_host`` unset (``lockgate up``, development) the message is written as
``<delivery id>.eml`` into ``settings.mailbox_dir`` instead of being sent, so alerts are
visible without a mail server. Writing is atomic (temp file, then rename) and keyed by the
delivery id, so a retried delivery replaces its file instead of adding a second one.

``send_message`` sends any rendered mail the same way (the subscription confirmation mail
uses it too). SMTP failures are classified by reply code: 4xx is transient, 5xx
permanent. Connection refused, resets and timeouts are transient; a failed certificate
check or a server lacking STARTTLS/AUTH is configuration, so permanent.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import tempfile
import time
from collections.abc import Mapping
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from service.alerts._email_message import envelope_address, render_email, safe_delivery_id
from service.alerts._errors import DeliveryError
from service.alerts._optin_tokens import OptInUnavailable, unsubscribe_url
from service.settings import Settings

logger = logging.getLogger(__name__)

_MAX_REPLY_CHARS = 200


def send_email(
    *,
    target: str,
    payload: Mapping[str, Any],
    delivery_id: str,
    settings: Settings,
    subscription_id: str | None = None,
) -> None:
    """One alert mail. A subscription's mail carries its one-click unsubscribe link; an
    inline recipient (a workflow's own list) has nothing to unsubscribe from."""
    message = render_email(
        payload,
        to=target,
        sender=settings.mail_from,
        delivery_id=delivery_id,
        unsubscribe_url=_unsubscribe_link(settings, subscription_id),
    )
    send_message(message, target=target, file_id=delivery_id, settings=settings)


def send_message(message: EmailMessage, *, target: str, file_id: str, settings: Settings) -> None:
    """Send a rendered mail over SMTP, or write it to the mailbox folder as
    ``<file_id>.eml`` when no SMTP host is set; raises ``DeliveryError``."""
    extra = {"delivery_id": file_id, "channel": "email", "recipient": target}
    if settings.smtp_host is None:
        path = _write_to_mailbox(message, mailbox_dir=settings.mailbox_dir, delivery_id=file_id)
        logger.info("email written to mailbox %s", path, extra=extra)
        return
    started = time.perf_counter()
    try:
        _send_smtp(message, target=target, settings=settings, smtp_host=settings.smtp_host)
    except (smtplib.SMTPException, OSError) as exc:
        error = _classify(exc, host=settings.smtp_host)
        logger.info("email to %s failed: %s", target, error, extra=extra)
        raise error from exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    logger.info(
        "email sent via %s:%s (%.0f ms)",
        settings.smtp_host,
        settings.smtp_port,
        elapsed_ms,
        extra=extra,
    )


def _unsubscribe_link(settings: Settings, subscription_id: str | None) -> str | None:
    if subscription_id is None:
        return None
    try:
        return unsubscribe_url(settings, subscription_id=subscription_id)
    except OptInUnavailable as exc:
        # Still deliver the alert: losing it would be worse than a mail without the link.
        logger.warning("alert email sent without an unsubscribe link: %s", exc)
        return None


def _send_smtp(message: EmailMessage, *, target: str, settings: Settings, smtp_host: str) -> None:
    with smtplib.SMTP(smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
        # With one recipient, a refusal raises SMTPRecipientsRefused rather than returning.
        smtp.send_message(
            message,
            from_addr=envelope_address(settings.mail_from),
            to_addrs=[envelope_address(target)],
        )


def _classify(exc: BaseException, *, host: str) -> DeliveryError:
    # smtplib's exceptions are OSError subclasses: test them before the network errors.
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()), (-1, b""))
        return _from_reply(code, reply, host=host, stage="refused the recipient")
    if isinstance(exc, smtplib.SMTPResponseException):
        return _from_reply(exc.smtp_code, exc.smtp_error, host=host, stage="replied")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"SMTP server {host} disconnected: {exc}", transient=True)
    if isinstance(exc, smtplib.SMTPException):
        # SMTPNotSupportedError (no STARTTLS or AUTH) and the like: a settings problem.
        return DeliveryError(f"SMTP server {host}: {exc}", transient=False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(f"SMTP server {host} certificate rejected: {exc}", transient=False)
    return DeliveryError(f"SMTP server {host} unreachable: {exc!r}", transient=True)


def _from_reply(code: int, reply: bytes | str, *, host: str, stage: str) -> DeliveryError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    # Only 5xx is a definite "never": 4xx and odd codes (-1 when the server vanished) retry.
    transient = not 500 <= code < 600
    return DeliveryError(
        f"SMTP server {host} {stage}: {code} {text[:_MAX_REPLY_CHARS]}",
        transient=transient,
        status=code,
    )


def _write_to_mailbox(message: EmailMessage, *, mailbox_dir: Path, delivery_id: str) -> Path:
    path = mailbox_dir / f"{safe_delivery_id(delivery_id)}.eml"
    temp_path: Path | None = None
    try:
        mailbox_dir.mkdir(parents=True, exist_ok=True)
        # Readers list *.eml, so the partially written temp file is never seen.
        with tempfile.NamedTemporaryFile(dir=mailbox_dir, suffix=".tmp", delete=False) as tmp:
            temp_path = Path(tmp.name)
            tmp.write(message.as_bytes())
        os.replace(temp_path, path)
    except OSError as exc:
        if temp_path is not None:
            temp_path.unlink(missing_ok=True)
        raise DeliveryError(
            f"cannot write to mailbox {mailbox_dir}: {exc}", transient=True
        ) from exc
    return path

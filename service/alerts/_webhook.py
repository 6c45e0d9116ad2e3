"""The webhook channel: POST the alert as JSON, signed per Standard Webhooks.

Headers: ``webhook-id`` (the delivery id: the same on every retry of one delivery, so a
receiver can drop duplicates), ``webhook-timestamp`` (unix seconds, part of the signed
content, so a captured request cannot be replayed outside the receiver's tolerance) and
``webhook-signature`` (see ``_signing``). The exact bytes signed are the bytes sent.

The body is the generic alert payload, or a Slack / Teams message rendered from it
(``_chat_formats``); every format is signed the same way. Addresses are checked by the
egress guard (``_egress``) on every connection, redirects included.

2xx means delivered. 408, 429, 5xx and network errors are transient; any other status
is permanent, including a 301/302/303 (only 307/308, which keep the POST and its body,
are followed, up to ``alert_max_redirects``). Logs and errors name only the URL's scheme
and host: webhook URLs often carry their own secret in the path (Slack, Teams).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from service.alerts._chat_formats import render_chat_message
from service.alerts._egress import GuardedTransport, check_url, parse_networks
from service.alerts._errors import DeliveryError
from service.alerts._signing import sign_payload
from service.settings import Settings

logger = logging.getLogger(__name__)

USER_AGENT = "Lockgate-Alerts/0.1"
_TRANSIENT_STATUSES = frozenset({408, 429})
_MAX_RESPONSE_CHARS = 200


def post_webhook(
    *,
    url: str,
    payload: Mapping[str, Any],
    delivery_id: str,
    settings: Settings,
    format: str = "generic",
    timestamp: int | None = None,
) -> None:
    where = redact_url(url)
    extra = {"delivery_id": delivery_id, "channel": "webhook", "target": where}
    require_https = settings.environment != "development"
    check_url(url, require_https=require_https)
    try:
        document = render_chat_message(payload, format=format)
        body = json.dumps(
            document, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise DeliveryError(f"alert payload is not JSON: {exc}", transient=False) from exc
    sent_at = int(time.time()) if timestamp is None else timestamp
    secret = settings.alert_signing_secret.get_secret_value()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": delivery_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": sign_payload(secret, delivery_id, sent_at, body),
    }
    transport = GuardedTransport(parse_networks(settings.alert_egress_networks))
    started = time.perf_counter()
    try:
        with httpx.Client(
            transport=transport, timeout=settings.alert_timeout_seconds, follow_redirects=False
        ) as client:
            response = _post_following_307(
                client, url, body, headers, settings.alert_max_redirects, require_https
            )
    except DeliveryError as exc:
        _logged(exc, extra)  # refused by the egress guard, or too many redirects
        raise
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        error = DeliveryError(f"bad webhook URL {where}: {exc}", transient=False)
        raise _logged(error, extra) from exc
    except httpx.TransportError as exc:
        # Connect errors, timeouts, resets, remote protocol errors: the receiver may recover.
        message = f"webhook {where} unreachable: {type(exc).__name__}: {exc}"
        raise _logged(DeliveryError(message, transient=True), extra) from exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    status = response.status_code
    logger.info("POST %s -> %d (%.0f ms)", where, status, elapsed_ms, extra=extra)
    if 200 <= status < 300:
        return
    transient = status in _TRANSIENT_STATUSES or status >= 500
    raise DeliveryError(
        f"webhook {where} answered {status}: {response.text[:_MAX_RESPONSE_CHARS]}",
        transient=transient,
        status=status,
        retry_after_seconds=parse_retry_after(response.headers.get("retry-after"))
        if transient
        else None,
    )


def _post_following_307(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    max_redirects: int,
    require_https: bool,
) -> httpx.Response:
    """Follows only 307/308, which keep the method and body (a 301/302/303 would turn the
    POST into a GET and lose the alert); each hop goes through the guarded transport."""
    target = url
    for _ in range(max_redirects + 1):
        response = client.post(target, content=body, headers=headers)
        location = response.headers.get("location")
        if response.status_code not in (307, 308) or not location:
            return response
        target = str(check_url(str(httpx.URL(target).join(location)), require_https=require_https))
    raise DeliveryError(
        f"webhook {redact_url(url)} redirected more than {max_redirects} times", transient=False
    )


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of a URL: safe to log, unlike its path and query."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    if not parsed.host:
        return "<URL without host>"
    port = f":{parsed.port}" if parsed.port is not None else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _logged(error: DeliveryError, extra: Mapping[str, Any]) -> DeliveryError:
    logger.info("%s", error, extra=dict(extra))
    return error

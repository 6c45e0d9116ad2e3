"""The webhook channel against a real HTTP receiver: signed deliveries and classification."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from service.alerts import DeliveryError, deliver, verify_signature
from service.alerts._webhook import parse_retry_after
from service.settings import Settings
from tests.alerts.conftest import SIGNING_SECRET, HTTPReceiver


def test_webhook_arrives_signed(
    http_receiver: HTTPReceiver,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
) -> None:
    before = int(time.time())

    deliver(
        channel="webhook",
        target=http_receiver.url("/hooks/lockgate"),
        payload=failed_run_payload,
        delivery_id="dlv-w1",
        settings=make_settings(),
    )

    [request] = http_receiver.requests
    headers = request.headers
    assert request.path == "/hooks/lockgate"
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == "dlv-w1"
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert json.loads(request.body) == failed_run_payload
    assert verify_signature(
        SIGNING_SECRET,
        headers["webhook-id"],
        headers["webhook-timestamp"],
        request.body,
        headers["webhook-signature"],
    )
    tampered = request.body.replace(b"FAILED", b"SUCCESS")
    assert tampered != request.body
    assert not verify_signature(
        SIGNING_SECRET,
        headers["webhook-id"],
        headers["webhook-timestamp"],
        tampered,
        headers["webhook-signature"],
    )


@pytest.mark.parametrize(
    ("path", "status", "transient", "retry_after"),
    [
        ("/status/500", 500, True, None),
        ("/status/502", 502, True, None),
        ("/status/503", 503, True, 7.0),
        ("/status/429", 429, True, 7.0),
        ("/status/408", 408, True, None),
        ("/status/404", 404, False, None),
        ("/status/400", 400, False, None),
        ("/status/410", 410, False, None),
        ("/redirect", 302, False, None),
    ],
)
def test_status_codes_decide_transience(
    http_receiver: HTTPReceiver,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
    path: str,
    status: int,
    transient: bool,
    retry_after: float | None,
) -> None:
    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="webhook",
            target=http_receiver.url(path),
            payload=failed_run_payload,
            delivery_id="dlv-w2",
            settings=make_settings(),
        )

    error = caught.value
    assert (error.status, error.transient, error.retry_after_seconds) == (
        status,
        transient,
        retry_after,
    )
    assert [r.path for r in http_receiver.requests] == [path]  # one attempt, no redirect


def test_2xx_other_than_200_is_delivered(
    http_receiver: HTTPReceiver,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
) -> None:
    deliver(
        channel="webhook",
        target=http_receiver.url("/status/202"),
        payload=failed_run_payload,
        delivery_id="dlv-w3",
        settings=make_settings(),
    )

    assert len(http_receiver.requests) == 1


def test_refused_connection_is_transient(
    refused_port: int, make_settings: Callable[..., Settings], failed_run_payload: dict[str, Any]
) -> None:
    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="webhook",
            target=f"http://127.0.0.1:{refused_port}/hook",
            payload=failed_run_payload,
            delivery_id="dlv-w4",
            settings=make_settings(),
        )

    assert caught.value.transient is True
    assert caught.value.status is None
    assert "ConnectError" in str(caught.value)


def test_slow_receiver_times_out_transiently(
    http_receiver: HTTPReceiver,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
) -> None:
    started = time.monotonic()

    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="webhook",
            target=http_receiver.url("/slow"),
            payload=failed_run_payload,
            delivery_id="dlv-w5",
            settings=make_settings(alert_timeout_seconds=0.2),
        )

    assert caught.value.transient is True
    assert "Timeout" in str(caught.value)
    assert time.monotonic() - started < 0.9


@pytest.mark.parametrize("target", ["not a url", "ftp://127.0.0.1/hook", "http://"])
def test_bad_urls_are_permanent(
    make_settings: Callable[..., Settings], failed_run_payload: dict[str, Any], target: str
) -> None:
    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="webhook",
            target=target,
            payload=failed_run_payload,
            delivery_id="dlv-w6",
            settings=make_settings(),
        )

    assert caught.value.transient is False


def test_unserialisable_payload_is_permanent(
    http_receiver: HTTPReceiver, make_settings: Callable[..., Settings]
) -> None:
    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="webhook",
            target=http_receiver.url("/hook"),
            payload={"when": object()},
            delivery_id="dlv-w7",
            settings=make_settings(),
        )

    assert caught.value.transient is False
    assert http_receiver.requests == []


def test_unknown_channel_is_permanent(
    make_settings: Callable[..., Settings], failed_run_payload: dict[str, Any]
) -> None:
    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="pager",
            target="x",
            payload=failed_run_payload,
            delivery_id="dlv-w8",
            settings=make_settings(),
        )

    assert caught.value.transient is False


def test_logs_name_the_host_but_not_secrets_paths_or_payloads(
    http_receiver: HTTPReceiver,
    make_settings: Callable[..., Settings],
    failed_run_payload: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret_path = "/services/T000/B000/XXXXsecretXXXX"
    caplog.set_level(logging.DEBUG)

    deliver(
        channel="webhook",
        target=http_receiver.url(secret_path),
        payload=failed_run_payload,
        delivery_id="dlv-w9",
        settings=make_settings(),
    )
    with pytest.raises(DeliveryError) as caught:
        deliver(
            channel="webhook",
            target=http_receiver.url("/status/500?token=XXXXsecretXXXX"),
            payload=failed_run_payload,
            delivery_id="dlv-w10",
            settings=make_settings(),
        )

    # Only our records: httpx's own INFO line carries the full URL, so the process logging
    # config must keep the "httpx" logger at WARNING or above.
    ours = [r for r in caplog.records if r.name.startswith("service.alerts")]
    assert len(ours) == 2, "the channel logs one line per request"
    assert [getattr(r, "delivery_id", None) for r in ours] == ["dlv-w9", "dlv-w10"]
    our_text = "\n".join(r.getMessage() for r in ours)
    assert http_receiver.base_url in our_text
    signature = http_receiver.requests[0].headers["webhook-signature"]
    for text in [our_text, str(caught.value), repr(caught.value)]:
        assert "XXXXsecretXXXX" not in text
        assert SIGNING_SECRET not in text
        assert signature not in text
        assert "17 rows without customer_id" not in text


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("7", 7.0),
        (" 120 ", 120.0),
        ("Wed, 01 May 2024 02:00:30 GMT", 30.0),
        ("Wed, 01 May 2024 01:59:00 GMT", 0.0),  # already past: retry now
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    now = datetime(2024, 5, 1, 2, 0, 0, tzinfo=UTC)

    assert parse_retry_after(header, now=now) == seconds

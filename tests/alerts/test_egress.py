"""The SSRF guard, against real connections: literal addresses, names that resolve to
loopback, and redirects from an allowed receiver to a refused one."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

import pytest

from service.alerts import DeliveryError, deliver, subscription_issues
from service.alerts._egress import EgressRefused, address_allowed, parse_networks
from service.settings import Settings
from tests.alerts.conftest import HTTPReceiver


def send(url: str, settings: Settings) -> None:
    deliver(
        channel="webhook",
        target=url,
        payload={"event_type": "run.failed"},
        delivery_id="dlv-ssrf",
        settings=settings,
    )


@pytest.fixture
def second_loopback() -> Iterator[tuple[str, list[str]]]:
    """A receiver on 127.0.0.2 (Linux routes all of 127/8 to loopback): the "private
    target" a redirect points at. Yields its base URL and the paths it was asked for."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            hits.append(self.path)
            path, _, query = self.path.partition("?to=")
            self.send_response(307 if path == "/redirect307" else 204)
            if path == "/redirect307":
                self.send_header("Location", unquote(query))
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.2:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
    ],
)
def test_which_addresses_are_refused(address: str, allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address), ()) is allowed


def test_allow_list_opens_only_its_networks() -> None:
    networks = parse_networks(["127.0.0.1/32"])
    assert address_allowed(ipaddress.ip_address("127.0.0.1"), networks)
    assert not address_allowed(ipaddress.ip_address("127.0.0.2"), networks)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_literal_and_resolved_loopback_are_refused_and_nothing_is_sent(
    host: str, http_receiver: HTTPReceiver, make_settings: Callable[..., Settings]
) -> None:
    port = http_receiver.base_url.rsplit(":", 1)[1]
    settings = make_settings(alert_egress_allowed_networks=[])
    with pytest.raises(EgressRefused) as caught:
        send(f"http://{host}:{port}/hooks", settings)
    assert caught.value.transient is False
    assert "LOCKGATE_ALERT_EGRESS_ALLOWED_NETWORKS" in str(caught.value)
    assert http_receiver.requests == []


def test_development_allows_loopback_by_default_production_does_not(
    http_receiver: HTTPReceiver, make_settings: Callable[..., Settings]
) -> None:
    send(http_receiver.url("/dev"), make_settings(alert_egress_allowed_networks=None))
    assert [r.path for r in http_receiver.requests] == ["/dev"]
    production = make_settings(
        alert_egress_allowed_networks=None,
        environment="production",
        alert_signing_secret="a-real-production-secret",
        databricks_host="https://adb-1.azuredatabricks.net",
    )
    assert production.alert_egress_networks == ()
    with pytest.raises(EgressRefused, match="https"):
        send(http_receiver.url("/prod"), production)
    assert [r.path for r in http_receiver.requests] == ["/dev"]


def test_a_redirect_to_a_refused_address_is_not_followed(
    http_receiver: HTTPReceiver,
    second_loopback: tuple[str, list[str]],
    make_settings: Callable[..., Settings],
) -> None:
    target, hits = second_loopback
    settings = make_settings(alert_egress_allowed_networks=["127.0.0.1/32"])
    with pytest.raises(EgressRefused):
        send(http_receiver.url(f"/redirect307?to={quote(target + '/inside')}"), settings)
    assert hits == []


def test_a_redirect_to_a_name_resolving_to_a_refused_address_is_not_followed(
    http_receiver: HTTPReceiver,
    second_loopback: tuple[str, list[str]],
    make_settings: Callable[..., Settings],
) -> None:
    # Only the redirecting receiver (127.0.0.2) is allowed; localhost is not.
    redirecting, hits = second_loopback
    settings = make_settings(alert_egress_allowed_networks=["127.0.0.2/32"])
    port = http_receiver.base_url.rsplit(":", 1)[1]
    inside = quote(f"http://localhost:{port}/inside")
    with pytest.raises(EgressRefused):
        send(f"{redirecting}/redirect307?to={inside}", settings)
    assert hits == [f"/redirect307?to={inside}"]
    assert http_receiver.requests == []


def test_an_allowed_307_is_followed_with_the_body_and_a_302_is_not(
    http_receiver: HTTPReceiver,
    second_loopback: tuple[str, list[str]],
    make_settings: Callable[..., Settings],
) -> None:
    target, hits = second_loopback
    settings = make_settings(alert_egress_allowed_networks=["127.0.0.0/8"])
    send(http_receiver.url(f"/redirect307?to={quote(target + '/moved')}"), settings)
    assert hits == ["/moved"]
    with pytest.raises(DeliveryError) as caught:
        send(http_receiver.url(f"/redirect302?to={quote(target + '/get')}"), settings)
    assert (caught.value.status, caught.value.transient) == (302, False)
    assert hits == ["/moved"]


@pytest.mark.parametrize(
    ("kind", "target", "fmt", "path"),
    [
        ("webhook", "http://127.0.0.1/x", "generic", "$.target"),
        ("webhook", "http://localhost/x", "generic", "$.target"),
        ("webhook", "http://[::1]/x", "generic", "$.target"),
        ("webhook", "ftp://hooks.example.com/x", "generic", "$.target"),
        ("webhook", "http://user:pw@hooks.example.com/x", "generic", "$.target"),
        ("webhook", "https://8.8.8.8/x", "discord", "$.format"),
        ("email", "not an address", "generic", "$.target"),
        ("email", "a@x.com, b@x.com", "generic", "$.target"),
    ],
)
def test_subscriptions_that_could_never_deliver_are_refused(
    kind: str, target: str, fmt: str, path: str, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(alert_egress_allowed_networks=[])
    issues = subscription_issues(
        kind=kind, target=target, format=fmt, event_types=[], settings=settings
    )
    assert [i.path for i in issues] == [path]


def test_subscription_event_types_are_checked_by_path(
    make_settings: Callable[..., Settings],
) -> None:
    issues = subscription_issues(
        kind="webhook",
        target="https://8.8.8.8/hook",
        format="slack",
        event_types=["run.failed", "run.exploded"],
        settings=make_settings(),
    )
    assert [i.path for i in issues] == ["$.event_types[1]"]

"""Egress safety for webhook alerts: a subscriber's URL must not reach inside our network.

Webhook URLs come from API callers, so an unchecked POST is a server-side request
forgery: ``http://169.254.169.254/`` (cloud metadata), ``http://localhost:6379/``, or a
public name that resolves to ``10.0.0.5``. The rules:

- ``http``/``https`` only, and ``https`` outside development (alerts carry error text);
- the address actually connected to must be global: not private, loopback, link-local,
  shared, reserved, multicast or unspecified (IPv4-mapped IPv6 is judged as IPv4), unless
  it lies in ``settings.alert_egress_networks`` (tests allow loopback);
- the check happens at connect time, inside the HTTP transport, on the address that is
  then connected to: checking a name and letting the client resolve it again later is
  open to DNS rebinding (the name answers public first, private second);
- proxies from the environment are ignored: a proxy would connect on our behalf, past
  the check;
- every redirect hop is connected through the same transport, so a public receiver
  answering ``307 Location: http://127.0.0.1/`` is refused like the literal URL.

A refusal is ``EgressRefused``: permanent, since asking again resolves the same way.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx

from service.alerts._errors import DeliveryError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class EgressRefused(DeliveryError):
    """The URL or the address it resolves to is not one Lockgate may send alerts to."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=False)


def parse_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def address_allowed(address: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return True
    # is_global is False for private, loopback, link-local, shared (100.64/10), reserved
    # and documentation ranges; multicast can be "global" but is never a webhook.
    return address.is_global and not address.is_multicast


def check_url(url: str, *, require_https: bool) -> httpx.URL:
    """Scheme and shape only; the address is checked when connecting."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise EgressRefused(f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https"):
        raise EgressRefused(f"webhook URLs must be http or https, not {parsed.scheme or 'none'!r}")
    if require_https and parsed.scheme != "https":
        raise EgressRefused("webhook URLs must use https outside development")
    if not parsed.host:
        raise EgressRefused("webhook URL has no host")
    if parsed.userinfo:
        raise EgressRefused("webhook URLs must not carry a user name or password")
    return parsed


def resolve_allowed(host: str, port: int, allowed: Sequence[IPNetwork]) -> str:
    """The first resolved address of ``host`` that may be connected to, or refuse."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        # A name that does not resolve now may resolve later (DNS outage): transient.
        raise DeliveryError(f"cannot resolve {host}: {exc}", transient=True) from exc
    refused: list[str] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 zone id
        address = ipaddress.ip_address(text)
        if address_allowed(address, allowed):
            return text
        refused.append(text)
    raise EgressRefused(
        f"{host} resolves to {', '.join(dict.fromkeys(refused))}: a private, loopback or "
        "link-local address (allow it with LOCKGATE_ALERT_EGRESS_ALLOWED_NETWORKS)"
    )


class _GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks, then connects to the checked address. TLS still verifies the
    certificate against the URL's host name: httpcore passes the origin host as the
    server name, not the address connected to."""

    def __init__(self, allowed: Sequence[IPNetwork]) -> None:
        self._allowed = tuple(allowed)
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        address = resolve_allowed(host, port, self._allowed)
        return self._inner.connect_tcp(
            address,
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise EgressRefused("unix sockets are not a webhook destination")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport with its connection pool rebuilt on the guarded backend.

    httpx has no public hook for the network backend, so the pool is replaced after
    construction; the SSRF tests fail if this ever stops taking effect.
    """

    def __init__(self, allowed: Sequence[IPNetwork]) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            max_keepalive_connections=0,
            network_backend=_GuardedBackend(allowed),
        )

"""Forwarded headers believed only from the reverse proxies named in DERMBRIDGE_TRUSTED_PROXIES.

A request from a trusted proxy has its client address taken from ``X-Forwarded-For`` (the
right-most address that is not itself a trusted proxy, so a client cannot forge its own entry),
and keeps ``X-Forwarded-Proto`` (Django's SECURE_PROXY_SSL_HEADER: HTTPS, secure cookies, HSTS)
and ``X-Request-ID`` (the audit trail's request id, so a proxy's access log and ours match).
From anyone else these headers are removed before any other middleware reads them, and the
connection's own address is the client's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse

FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
    "HTTP_X_REQUEST_ID",
)
# nginx's $request_id (32 hex), UUIDs, HAProxy's unique-id formats: short and plain only.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,127}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _parse(entries: tuple[str, ...]) -> tuple[tuple[Network, ...], bool]:
    networks: list[Network] = []
    unix = False
    for entry in entries:
        if entry.lower() == "unix":
            unix = True
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"DERMBRIDGE_TRUSTED_PROXIES entry {entry!r} is not an IP address or network: "
                "use addresses or CIDR networks (10.0.0.5, 10.0.0.0/24, ::1), or 'unix' for a "
                "proxy on a Unix socket, comma-separated."
            ) from None
    return tuple(networks), unix


def trusted_networks(entries: Iterable[str] | None = None) -> tuple[tuple[Network, ...], bool]:
    """The configured proxies, parsed (raises ImproperlyConfigured naming a bad entry)."""
    return _parse(tuple(settings.TRUSTED_PROXIES if entries is None else entries))


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    raw = raw.strip()
    if raw.startswith("[") and "]" in raw:  # [v6]:port
        raw = raw[1 : raw.index("]")]
    elif raw.count(":") == 1:  # v4:port
        raw = raw.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(peer: str, networks: tuple[Network, ...], unix: bool) -> bool:
    if not peer:  # a Unix-socket connection has no peer address
        return unix
    address = _address(peer)
    return address is not None and any(address in network for network in networks)


def client_address(peer: str, forwarded_for: str, entries: Iterable[str] | None = None) -> str:
    """The client's address for a connection from ``peer`` with this X-Forwarded-For value."""
    networks, unix = trusted_networks(entries)
    if not _is_trusted(peer, networks, unix):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    nearest_proxy = None
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # garbage from before the first proxy we trust: stop believing the chain
        if not any(address in network for network in networks):
            return str(address)
        nearest_proxy = address
    # Every hop is a trusted proxy (a health check from the proxy itself), or none is usable.
    return str(nearest_proxy) if nearest_proxy is not None else peer


def forwarded_request_id(request: HttpRequest) -> str | None:
    """The proxy's request id (``X-Request-ID``), when it came from a trusted proxy and is plain."""
    value = request.META.get("HTTP_X_REQUEST_ID", "")
    return value if value and _REQUEST_ID.match(value) else None


class TrustedProxyMiddleware:
    """Drop forwarded headers from untrusted peers; take the client address from trusted ones.

    ``REMOTE_ADDR`` becomes the client's address (what django-axes, the audit trail and the logs
    read); the connection's own address stays in ``META["DERMBRIDGE_PEER_ADDR"]``.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        trusted_networks()  # a bad DERMBRIDGE_TRUSTED_PROXIES fails at start-up, not per request

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        peer = str(meta.get("REMOTE_ADDR") or "")
        meta["DERMBRIDGE_PEER_ADDR"] = peer
        networks, unix = trusted_networks()
        if _is_trusted(peer, networks, unix):
            meta["REMOTE_ADDR"] = client_address(peer, str(meta.get("HTTP_X_FORWARDED_FOR", "")))
        else:
            for header in FORWARDED_HEADERS:
                meta.pop(header, None)
        return self.get_response(request)

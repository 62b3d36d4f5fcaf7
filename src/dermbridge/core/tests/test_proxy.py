"""Forwarded headers are believed only from DERMBRIDGE_TRUSTED_PROXIES (dermbridge.core.proxy)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from dermbridge.audit.context import current
from dermbridge.audit.middleware import RequestContextMiddleware
from dermbridge.core.proxy import TrustedProxyMiddleware, client_address

PROXY_ID = "0f3c9a7e2b8d4c1a9e6f5d4c3b2a1908"


def _through_middleware(settings: Any, remote: str, **headers: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen["context"] = current.get()
        seen["secure"] = request.is_secure()
        seen["meta"] = dict(request.META)
        return HttpResponse("ok")

    chain = TrustedProxyMiddleware(RequestContextMiddleware(view))
    request = RequestFactory().get("/", REMOTE_ADDR=remote, headers=headers)
    seen["response"] = chain(request)
    return seen


def test_a_trusted_proxys_client_address_request_id_and_https_are_believed(settings) -> None:
    settings.TRUSTED_PROXIES = ["10.1.0.0/24", "::1"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen = _through_middleware(
        settings,
        "10.1.0.7",
        x_forwarded_for="198.51.100.23, 10.1.0.9",  # client, then a second trusted proxy
        x_forwarded_proto="https",
        x_request_id=PROXY_ID,
    )
    assert seen["context"].client_address == "198.51.100.23"
    assert seen["context"].request_id == PROXY_ID
    assert seen["response"]["X-Request-ID"] == PROXY_ID
    assert seen["secure"] is True
    assert seen["meta"]["DERMBRIDGE_PEER_ADDR"] == "10.1.0.7"


def test_the_same_headers_from_anyone_else_are_dropped(settings) -> None:
    settings.TRUSTED_PROXIES = ["10.1.0.0/24"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen = _through_middleware(
        settings,
        "203.0.113.50",
        x_forwarded_for="192.0.2.1",
        x_forwarded_proto="https",
        x_request_id=PROXY_ID,
    )
    assert seen["context"].client_address == "203.0.113.50"
    assert seen["context"].request_id != PROXY_ID and len(seen["context"].request_id) == 32
    assert seen["secure"] is False
    assert "HTTP_X_FORWARDED_FOR" not in seen["meta"]


def test_no_trusted_proxies_by_default_means_no_forwarded_header_counts(settings) -> None:
    assert settings.TRUSTED_PROXIES == [] and settings.SECURE_PROXY_SSL_HEADER is None
    seen = _through_middleware(
        settings, "127.0.0.1", x_forwarded_for="192.0.2.1", x_request_id=PROXY_ID
    )
    assert seen["context"].client_address == "127.0.0.1"
    assert seen["context"].request_id != PROXY_ID


def test_a_client_cannot_forge_its_own_address_or_an_odd_request_id(settings) -> None:
    settings.TRUSTED_PROXIES = ["10.1.0.7"]
    # The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the address it saw.
    seen = _through_middleware(
        settings, "10.1.0.7", x_forwarded_for="1.2.3.4, 198.51.100.23", x_request_id="<script>"
    )
    assert seen["context"].client_address == "198.51.100.23"
    assert seen["context"].request_id != "<script>"


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("10.0.0.2", "192.0.2.9", "192.0.2.9"),
        ("10.0.0.2", "192.0.2.9:5123", "192.0.2.9"),
        ("10.0.0.2", "[2001:db8::5]:443", "2001:db8::5"),
        ("10.0.0.2", "", "10.0.0.2"),  # the proxy's own health check
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),  # only proxies: the nearest one
        ("10.0.0.2", "garbage, 192.0.2.9", "192.0.2.9"),
        ("", "192.0.2.9", ""),  # a Unix socket, not trusted here
    ],
)
def test_client_address_walks_the_chain_from_the_right(peer, forwarded, expected) -> None:
    assert client_address(peer, forwarded, ["10.0.0.0/8"]) == expected


def test_a_proxy_on_a_unix_socket_is_trusted_when_named() -> None:
    assert client_address("", "192.0.2.9", ["unix"]) == "192.0.2.9"


def test_a_bad_entry_names_the_variable() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"DERMBRIDGE_TRUSTED_PROXIES.*proxy\.example"):
        client_address("10.0.0.2", "", ["proxy.example"])


def test_hsts_is_sent_on_https_once_tls_is_configured(client, settings, db: None) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 31536000
    response = client.get("/login/", headers={"x-forwarded-proto": "https"})
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    plain = client.get("/login/", REMOTE_ADDR="192.0.2.1", headers={"x-forwarded-proto": "https"})
    assert "Strict-Transport-Security" not in plain

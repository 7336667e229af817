"""Relay proxy limits: unauthenticated clients are dropped at a deadline, cannot keep an
authenticated client out, and cannot make the CA issue a leaf per host name.

Raw sockets over loopback; every wait is bounded by a generous timeout, never asserted as a
duration (the machine running the tests may be loaded).
"""

from __future__ import annotations

import secrets
import select
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pytest_httpserver import HTTPServer

from evervault.local.pki import CA_CERT_FILE, CA_KEY_FILE, LocalCA
from evervault.local.relay_proxy import ProxyLimits, RelayProxy

from .conftest import AppKeys
from .relay_support import API_KEY, APP_ID
from .test_relay_proxy import echoed, relay_context, through_relay

GENEROUS = 30.0


@contextmanager
def running_proxy(
    app_keys: AppKeys, ca: LocalCA, limits: ProxyLimits, destinations: list[str], upstream_ca: str
) -> Iterator[RelayProxy]:
    proxy = RelayProxy(
        decryptor=app_keys.decryptor,
        authorize=lambda credential: credential == API_KEY,
        may_decrypt=lambda credential: credential == API_KEY,
        app_id=APP_ID,
        destinations=lambda: destinations,
        ca=ca,
        upstream_ca_file=upstream_ca,
        limits=limits,
    )
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def address(proxy: RelayProxy) -> tuple[str, int]:
    url = urlsplit(proxy.url)
    assert url.hostname is not None and url.port is not None
    return url.hostname, url.port


def tls_to(proxy: RelayProxy, ca: LocalCA) -> ssl.SSLSocket:
    raw = socket.create_connection(address(proxy), timeout=GENEROUS)
    return relay_context(ca).wrap_socket(raw, server_hostname="127.0.0.1")


def send_connect(tls: ssl.SSLSocket, target: str, credential: str | None) -> bytes:
    """Send ``CONNECT target`` and return the response head."""
    auth = "" if credential is None else f"Proxy-Authorization: {credential}\r\n"
    tls.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = tls.recv(4096)
        assert chunk, f"closed before answering: {head!r}"
        head += chunk
    return head


def closed_by_server(sock: socket.socket) -> bool:
    """Reads until the server closes (``True``); a hang fails after GENEROUS seconds instead."""
    try:
        while sock.recv(4096):
            pass
    except (ConnectionResetError, ssl.SSLError, ssl.SSLEOFError):
        return True
    return True


def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + GENEROUS
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_silent_client_is_dropped_at_the_auth_deadline(
    app_keys: AppKeys, relay_ca: LocalCA, destination_ca_file: str
) -> None:
    limits = ProxyLimits(auth_timeout=0.5)
    with running_proxy(app_keys, relay_ca, limits, ["localhost"], destination_ca_file) as proxy:
        with socket.create_connection(address(proxy), timeout=GENEROUS) as silent:
            assert closed_by_server(silent)  # no TLS handshake at all
        with tls_to(proxy, relay_ca) as idle:
            assert closed_by_server(idle)  # TLS, then nothing
        with tls_to(proxy, relay_ca) as without_credentials:
            # A tunnel to a destination may carry its credentials inside, but only until the deadline.
            assert b" 200 " in send_connect(without_credentials, "localhost:443", None)
            assert closed_by_server(without_credentials)


def test_a_client_dripping_its_connect_is_dropped_at_the_deadline(
    app_keys: AppKeys, relay_ca: LocalCA, destination_ca_file: str
) -> None:
    """Each byte arrives well within any read timeout; the deadline covers the whole CONNECT."""
    limits = ProxyLimits(auth_timeout=1.0)
    request = b"CONNECT localhost:443 HTTP/1.1\r\nHost: localhost:443\r\nX-Padding: " + b"x" * 200
    with (
        running_proxy(app_keys, relay_ca, limits, ["localhost"], destination_ca_file) as proxy,
        tls_to(proxy, relay_ca) as dripping,
    ):
        sent = 0
        for byte in request:
            try:
                dripping.sendall(bytes([byte]))
            except OSError:
                break
            sent += 1
            if select.select([dripping], [], [], 0.1)[0]:  # the server closed the connection
                break
        assert sent < len(request)  # dropped long before the 20+ seconds the drip would take
        assert closed_by_server(dripping)
        # The worker counts the drop as it finishes, which may be just after the client sees
        # the close: wait for the count (bounded), never for a fixed time.
        give_up = time.monotonic() + GENEROUS
        while proxy.dropped_unauthenticated == 0 and time.monotonic() < give_up:
            time.sleep(0.01)
        assert proxy.dropped_unauthenticated == 1


def test_an_authenticated_connect_is_served_while_idle_clients_fill_every_pending_slot(
    app_keys: AppKeys, relay_ca: LocalCA, destination_ca_file: str, echo: HTTPServer
) -> None:
    # The deadline is long here: what keeps the authenticated client in is the eviction of
    # the oldest idle connection, not the deadline.
    limits = ProxyLimits(auth_timeout=120.0)
    idle_count = limits.max_pending + 16
    with (
        running_proxy(app_keys, relay_ca, limits, ["localhost"], destination_ca_file) as proxy,
        ExitStack() as idle,
    ):
        for n in range(idle_count):
            if n % 2:  # half of them bare TCP, half with a finished TLS handshake
                idle.enter_context(socket.create_connection(address(proxy), timeout=GENEROUS))
            else:
                idle.enter_context(tls_to(proxy, relay_ca))
        manager = through_relay(proxy, relay_ca)
        response = manager.request("GET", f"https://localhost:{echo.port}/echo", retries=False)
        assert echoed(response)["body"] == ""
        assert proxy.dropped_unauthenticated >= idle_count - limits.max_pending


def test_beyond_the_authenticated_cap_a_client_gets_a_fast_503(
    app_keys: AppKeys, relay_ca: LocalCA, destination_ca_file: str
) -> None:
    limits = ProxyLimits(max_connections=1)
    with running_proxy(app_keys, relay_ca, limits, ["localhost"], destination_ca_file) as proxy:
        with tls_to(proxy, relay_ca) as first, tls_to(proxy, relay_ca) as second:
            assert b" 200 " in send_connect(first, "localhost:443", API_KEY)
            head = send_connect(second, "localhost:443", API_KEY)
            assert head.startswith(b"HTTP/1.1 503 ")
            assert b"retry-after: 1" in head.lower()
        with tls_to(proxy, relay_ca) as third:  # the first closed: its slot is free again
            assert eventually(lambda: b" 200 " in send_connect(third, "localhost:443", API_KEY))


def test_unauthenticated_connects_to_random_subdomains_mint_no_leaves(
    app_keys: AppKeys, destination_ca_file: str, tmp_path: Path
) -> None:
    ca = LocalCA.load_or_create(tmp_path, leaf_cache_size=16)
    limits = ProxyLimits(auth_timeout=0.5)
    with running_proxy(app_keys, ca, limits, ["*.example.test"], destination_ca_file) as proxy:
        issued_at_start = ca.leaves_issued  # the proxy's own address
        # 150 rather than the 500 of the original attack: each costs a TLS handshake, and the
        # count of leaves issued is the same for any number (test_pki covers 500 host names).
        for n in range(150):
            host = f"{secrets.token_hex(6)}.example.test"
            with tls_to(proxy, ca) as tls:
                assert b" 200 " in send_connect(tls, f"{host}:443", None)
                if n % 50 == 0:  # the app's TLS inside the tunnel still verifies
                    inner = ssl.MemoryBIO(), ssl.MemoryBIO()
                    client = relay_context(ca).wrap_bio(*inner, server_hostname=host)
                    _handshake_inside(tls, client, *inner)
        assert ca.leaves_issued - issued_at_start == 1  # one leaf: *.example.test
        assert ca.cached_leaves <= 16
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CA_CERT_FILE, CA_KEY_FILE])


def test_authenticated_leaves_stay_within_the_cache_bound(
    app_keys: AppKeys, destination_ca_file: str, tmp_path: Path
) -> None:
    ca = LocalCA.load_or_create(tmp_path, leaf_cache_size=16)
    with running_proxy(app_keys, ca, ProxyLimits(), ["*.example.test"], destination_ca_file) as proxy:
        issued_at_start = ca.leaves_issued
        for _ in range(60):
            with tls_to(proxy, ca) as tls:
                assert b" 200 " in send_connect(tls, f"{secrets.token_hex(6)}.example.test:443", API_KEY)
                assert ca.cached_leaves <= 16
        assert eventually(lambda: ca.leaves_issued - issued_at_start == 60)
        assert ca.cached_leaves <= 16
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CA_CERT_FILE, CA_KEY_FILE])


def _handshake_inside(
    tunnel: ssl.SSLSocket, client: ssl.SSLObject, incoming: ssl.MemoryBIO, outgoing: ssl.MemoryBIO
) -> None:
    while True:
        try:
            client.do_handshake()
        except ssl.SSLWantReadError:
            if outgoing.pending:
                tunnel.sendall(outgoing.read())
            data = tunnel.recv(65536)
            assert data, "the tunnel closed during the inner handshake"
            incoming.write(data)
            continue
        if outgoing.pending:
            tunnel.sendall(outgoing.read())
        return


@pytest.mark.parametrize("limits", [{"max_connections": 0}, {"max_pending": 0}, {"auth_timeout": 0}])
def test_unusable_limits_are_configuration_errors(limits: dict[str, float]) -> None:
    from evervault.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        ProxyLimits(**limits)  # type: ignore[arg-type]

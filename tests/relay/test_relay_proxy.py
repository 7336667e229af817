"""The emulator's relay proxy on its own, driven by urllib3 and raw sockets over loopback."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import urllib3
from pytest_httpserver import HTTPServer

from evervault.local.pki import LocalCA
from evervault.local.relay_proxy import ProxyLimits, RelayProxy

from .conftest import AppKeys
from .relay_support import API_KEY, APP_ID, echo_url


def relay_context(relay_ca: LocalCA) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=relay_ca.cert_pem.decode())


def through_relay(
    proxy: RelayProxy, relay_ca: LocalCA, credential: str | None = API_KEY, **options: Any
) -> urllib3.ProxyManager:
    headers = {} if credential is None else {"Proxy-Authorization": credential}
    context = relay_context(relay_ca)
    options.setdefault("ssl_context", context)
    assert proxy.url is not None
    return urllib3.ProxyManager(proxy.url, proxy_headers=headers, proxy_ssl_context=context, **options)


def echoed(response: urllib3.BaseHTTPResponse) -> dict[str, Any]:
    assert response.status == 200, response.data
    result: dict[str, Any] = json.loads(response.data)
    return result


def test_destination_traffic_is_decrypted_in_json_bodies_and_headers(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, app_keys: AppKeys
) -> None:
    document = {"card": {"number": "4242 4242", "cvc": 123, "ok": True}, "list": ["plain", "x"]}
    encrypted = app_keys.encryptor.encrypt(document)
    encrypted["list"][1] = app_keys.encryptor.encrypt("second")
    manager = through_relay(relay_proxy, relay_ca)
    response = manager.request(
        "POST",
        echo_url(echo),
        body=json.dumps(encrypted),
        headers={"Content-Type": "application/json", "X-Card": encrypted["card"]["number"]},
    )
    seen = echoed(response)
    assert json.loads(seen["body"]) == {
        "card": {"number": "4242 4242", "cvc": 123, "ok": True},
        "list": ["plain", "second"],
    }
    assert seen["headers"]["X-Card"] == "4242 4242"
    assert "Proxy-Authorization" not in seen["headers"]


def test_form_bodies_text_bodies_and_percent_encoded_values_are_decrypted(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, app_keys: AppKeys
) -> None:
    secret = app_keys.encryptor.encrypt("a b&c=d/é")
    number = app_keys.encryptor.encrypt(2.5)
    manager = through_relay(relay_proxy, relay_ca)
    form = urlencode({"name": secret, "amount": number, "plain": "x"})
    seen = echoed(
        manager.request(
            "POST", echo_url(echo), body=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
    )
    assert seen["body"] == urlencode({"name": "a b&c=d/é", "amount": "2.5", "plain": "x"})
    text = f"card={secret}; link=https://x.test/?v={quote(secret, safe='')}"
    seen = echoed(
        manager.request("POST", echo_url(echo), body=text.encode(), headers={"Content-Type": "text/plain"})
    )
    assert seen["body"] == f"card=a b&c=d/é; link=https://x.test/?v={quote('a b&c=d/é', safe='')}"


def test_binary_and_compressed_bodies_pass_through_unchanged(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, app_keys: AppKeys
) -> None:
    secret = app_keys.encryptor.encrypt("hidden")
    manager = through_relay(relay_proxy, relay_ca)
    body = json.dumps({"x": secret}).encode()
    seen = echoed(
        manager.request(
            "POST",
            echo_url(echo),
            body=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "br"},
        )
    )
    assert seen["body"] == body.decode()


def test_a_header_whose_plaintext_is_not_a_legal_header_value_stays_encrypted(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, app_keys: AppKeys
) -> None:
    secret = app_keys.encryptor.encrypt("line\r\nInjected: yes")
    seen = echoed(
        through_relay(relay_proxy, relay_ca).request("GET", echo_url(echo), headers={"X-Secret": secret})
    )
    assert seen["headers"]["X-Secret"] == secret
    assert "Injected" not in seen["headers"]


@pytest.mark.parametrize("proxy_allow_any_destination", [True])
def test_other_hosts_are_tunnelled_untouched_with_the_destination_certificate(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, app_keys: AppKeys, destination_ca_file: str
) -> None:
    secret = app_keys.encryptor.encrypt("hidden")
    # Trusting only the destination's own CA proves the TLS was end to end, not intercepted.
    destination_trust = ssl.create_default_context(cafile=destination_ca_file)
    manager = through_relay(relay_proxy, relay_ca, ssl_context=destination_trust)
    seen = echoed(
        manager.request(
            "POST",
            echo_url(echo, "127.0.0.1"),
            body=json.dumps({"s": secret}),
            headers={"Content-Type": "application/json"},
        )
    )
    assert json.loads(seen["body"]) == {"s": secret}


@pytest.mark.parametrize(
    "credential", [None, "wrong-key", "Basic " + base64.b64encode(b"app:wrong").decode()]
)
def test_tunnels_need_the_right_credential_on_connect(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, credential: str | None
) -> None:
    manager = through_relay(relay_proxy, relay_ca, credential=credential)
    with pytest.raises(urllib3.exceptions.ProxyError, match="407"):
        manager.request("GET", echo_url(echo, "127.0.0.1"), retries=False)


def test_basic_app_and_key_credentials_are_accepted(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, app_keys: AppKeys
) -> None:
    basic = "Basic " + base64.b64encode(f"{APP_ID}:{API_KEY}".encode()).decode()
    secret = app_keys.encryptor.encrypt("ok")
    seen = echoed(
        through_relay(relay_proxy, relay_ca, credential=basic).request(
            "POST", echo_url(echo), body=secret.encode(), headers={"Content-Type": "text/plain"}
        )
    )
    assert seen["body"] == "ok"


def test_a_wrong_credential_is_refused_even_for_destinations(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer
) -> None:
    with pytest.raises(urllib3.exceptions.ProxyError, match="407"):
        through_relay(relay_proxy, relay_ca, credential="nope").request("GET", echo_url(echo), retries=False)


def test_a_key_sent_only_inside_the_tunnel_is_checked_there_and_stripped(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, app_keys: AppKeys
) -> None:
    manager = through_relay(relay_proxy, relay_ca, credential=None)
    secret = app_keys.encryptor.encrypt("inside")
    seen = echoed(
        manager.request(
            "POST",
            echo_url(echo),
            body=secret.encode(),
            headers={"Proxy-Authorization": API_KEY, "Content-Type": "text/plain"},
        )
    )
    assert seen["body"] == "inside"
    assert "Proxy-Authorization" not in seen["headers"]
    refused = manager.request("GET", echo_url(echo), headers={"Proxy-Authorization": "bad"}, retries=False)
    assert refused.status == 407
    refused = manager.request("GET", echo_url(echo), retries=False)
    assert refused.status == 407
    assert echo.log[-1][0].headers.get("X-Never") is None


def raw_exchange(proxy: RelayProxy, relay_ca: LocalCA, data: bytes) -> bytes:
    assert proxy.url is not None
    port = int(proxy.url.rsplit(":", 1)[1])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with relay_context(relay_ca).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(data)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"garbage\r\n\r\n", b"400"),
        (b"GET http://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n", b"405"),
        (b"CONNECT localhost HTTP/1.1\r\nHost: localhost\r\n\r\n", b"400"),
        (b"CONNECT local/host:443 HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"CONNECT localhost:99999 HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"CONNECT localhost:443 HTTP/1.1\r\n" + b"X: " + b"a" * 70000 + b"\r\n\r\n", b"400"),
    ],
)
def test_malformed_proxy_requests_get_an_error_and_the_proxy_keeps_serving(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, request_bytes: bytes, status: bytes
) -> None:
    answer = raw_exchange(relay_proxy, relay_ca, request_bytes)
    assert answer.startswith(b"HTTP/1.1 " + status)
    assert API_KEY.encode() not in answer
    echoed(through_relay(relay_proxy, relay_ca).request("GET", echo_url(echo)))


def test_plain_tcp_garbage_and_abrupt_disconnects_do_not_hurt_the_proxy(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer
) -> None:
    assert relay_proxy.url is not None
    port = int(relay_proxy.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"\x00\x01 not TLS at all\r\n\r\n")
        assert read_until_closed(raw).startswith((b"", b"\x15"))  # at most a TLS alert, then closed
    socket.create_connection(("127.0.0.1", port), timeout=10).close()
    echoed(through_relay(relay_proxy, relay_ca).request("GET", echo_url(echo)))


@pytest.mark.parametrize("proxy_limits", [ProxyLimits(max_body_bytes=1000)])
def test_request_bodies_are_bounded(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, proxy_limits: ProxyLimits
) -> None:
    response = through_relay(relay_proxy, relay_ca).request(
        "POST", echo_url(echo), body=b"x" * 5000, retries=False
    )
    assert response.status == 413


def test_unreachable_and_untrusted_destinations_get_502(
    relay_ca: LocalCA, app_keys: AppKeys, echo: HTTPServer, unused_port: int
) -> None:
    # No upstream CA: the echo server's certificate is not trusted by the relay.
    with RelayProxy(
        decryptor=app_keys.decryptor,
        authorize=lambda key: key == API_KEY,
        may_decrypt=lambda key: key == API_KEY,
        app_id=APP_ID,
        destinations=lambda: ["localhost"],
        ca=relay_ca,
    ) as proxy:
        manager = through_relay(proxy, relay_ca)
        untrusted = manager.request("GET", echo_url(echo), retries=False)
        assert untrusted.status == 502
        assert b"certificate" in untrusted.data
        closed = manager.request("GET", f"https://localhost:{unused_port}/", retries=False)
        assert closed.status == 502


def test_stop_ends_every_proxy_thread(
    relay_ca: LocalCA, app_keys: AppKeys, echo: HTTPServer, destination_ca_file: str
) -> None:
    before = {thread for thread in threading.enumerate() if thread.name.startswith("relay-proxy")}
    proxy = RelayProxy(
        decryptor=app_keys.decryptor,
        authorize=lambda key: key == API_KEY,
        may_decrypt=lambda key: key == API_KEY,
        app_id=APP_ID,
        destinations=lambda: ["localhost"],
        ca=relay_ca,
        upstream_ca_file=destination_ca_file,
    )
    proxy.start()
    manager = through_relay(proxy, relay_ca)
    echoed(manager.request("GET", echo_url(echo)))  # leaves a kept-alive tunnel open
    proxy.stop()
    after = {thread for thread in threading.enumerate() if thread.name.startswith("relay-proxy")}
    assert after <= before
    manager.clear()


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


@pytest.fixture
def unused_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port: int = sock.getsockname()[1]
    return port

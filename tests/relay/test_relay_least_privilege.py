"""The emulator's relay is no open tunnel: the app's own credentials, permissions and destinations only.

Against ``BackgroundEmulator`` (the real API, state, keys and relay proxy) over loopback
sockets. None of the refused targets is ever connected to: each is refused on the
``CONNECT``, before any connection leaves the relay.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import urllib3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from evervault.local.pki import LocalCA
from evervault.local.relay_proxy import RelayProxy
from evervault.local.runner import BackgroundEmulator, EmulatorInfo, EmulatorOptions

from .relay_support import API_KEY, NO_DECRYPT_KEY, echo_url

OTHER_APP_ID = "app_000000000000"


@dataclass(frozen=True)
class Running:
    info: EmulatorInfo
    relay_ca_pem: str
    create_tokens_key: str  # valid, but may not decrypt
    decrypt_key: str

    @property
    def api_port(self) -> int:
        return _port(self.info.api_url)

    @property
    def relay_port(self) -> int:
        assert self.info.relay_url is not None
        return _port(self.info.relay_url)


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def _mint(info: EmulatorInfo, permission: str) -> str:
    reply = urllib3.request(
        "POST",
        info.api_url + "_local/api-keys",
        json={"permissions": [permission]},
        headers={"Api-Key": info.api_key},
        retries=False,
    )
    assert reply.status == 201
    key: str = reply.json()["apiKey"]
    return key


@pytest.fixture(scope="module")
def running_emulators(
    tmp_path_factory: pytest.TempPathFactory, destination_ca_file: str
) -> Iterator[dict[bool, Running]]:
    """Two emulators: destinations only (``False``), and ``--relay-allow-any-destination`` (``True``)."""
    started: dict[bool, Running] = {}
    emulators = []
    try:
        for allow_any in (False, True):
            options = EmulatorOptions(
                data_dir=str(tmp_path_factory.mktemp("emulator")),
                # Loopback destinations (test servers) stay usable; a metadata address does not,
                # even when configured as a destination.
                relay_destinations=("localhost", "127.0.0.1", "169.254.169.254", "metadata.google.internal"),
                relay_upstream_ca_file=destination_ca_file,
                relay_allow_any_destination=allow_any,
            )
            emulator = BackgroundEmulator(options)
            emulators.append(emulator)
            info = emulator.start()
            pem = urllib3.request("GET", info.ca_url, retries=False).data.decode()
            started[allow_any] = Running(info, pem, _mint(info, "create-tokens"), _mint(info, "decrypt"))
        yield started
    finally:
        for emulator in emulators:
            emulator.stop()


@pytest.fixture(scope="module")
def strict(running_emulators: dict[bool, Running]) -> Running:
    return running_emulators[False]


@pytest.fixture(scope="module")
def any_host(running_emulators: dict[bool, Running]) -> Running:
    return running_emulators[True]


def basic(app_id: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{app_id}:{key}".encode()).decode()


def connect(relay_port: int, relay_ca_pem: str, target: str, header: bytes | None) -> tuple[int, bytes]:
    """Send one ``CONNECT`` (with ``header`` as Proxy-Authorization); its status and error body."""
    context = ssl.create_default_context(cadata=relay_ca_pem)
    raw = socket.create_connection(("127.0.0.1", relay_port), timeout=30)
    with raw, context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        request = b"CONNECT " + target.encode() + b" HTTP/1.1\r\nHost: " + target.encode() + b"\r\n"
        if header is not None:
            request += b"Proxy-Authorization: " + header + b"\r\n"
        tls.sendall(request + b"\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = tls.recv(65536)
            if not chunk:
                break
            answer += chunk
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 "), answer
        status = int(status_line.split()[1])
        if status != 200:
            rest += _read_to_end(tls)
        return status, rest.partition(b"\r\n\r\n")[2]


def _read_to_end(tls: ssl.SSLSocket) -> bytes:
    data = b""
    try:
        while chunk := tls.recv(65536):
            data += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    return data


def through(running: Running, credential: str | None, **options: object) -> urllib3.ProxyManager:
    headers = {} if credential is None else {"Proxy-Authorization": credential}
    context = ssl.create_default_context(cadata=running.relay_ca_pem)
    options.setdefault("ssl_context", context)
    assert running.info.relay_url is not None
    return urllib3.ProxyManager(
        running.info.relay_url, proxy_headers=headers, proxy_ssl_context=context, **options
    )


# --- (a) whose credentials -----------------------------------------------------------------------


def test_basic_credentials_naming_another_app_are_407(strict: Running, echo: HTTPServer) -> None:
    target = f"localhost:{echo.port}"
    key = strict.info.api_key
    refused = connect(strict.relay_port, strict.relay_ca_pem, target, basic(OTHER_APP_ID, key).encode())
    assert refused[0] == 407
    for accepted in (basic(strict.info.app_id, key), key):
        assert connect(strict.relay_port, strict.relay_ca_pem, target, accepted.encode())[0] == 200


def test_another_apps_basic_credentials_inside_the_tunnel_are_407(strict: Running, echo: HTTPServer) -> None:
    manager = through(strict, None)
    header = {"Proxy-Authorization": basic(OTHER_APP_ID, strict.info.api_key)}
    before = len(echo.log)
    reply = manager.request("GET", echo_url(echo), headers=header, retries=False)
    assert reply.status == 407
    assert len(echo.log) == before  # nothing was forwarded


# --- (b) where to: never metadata, link-local or the emulator itself -----------------------------


METADATA_TARGETS = [
    "169.254.169.254:80",
    "169.254.170.2:80",
    "[fd00:ec2::254]:80",
    "[fe80::1]:443",
    "100.100.100.200:80",
    "metadata.google.internal:80",
    "METADATA.google.internal.:80",
    "2852039166:80",  # 169.254.169.254 as one number: the resolved address is what is checked
    "[::ffff:169.254.169.254]:80",
    "[64:ff9b::a9fe:a9fe]:80",
]


@pytest.mark.parametrize("allow_any", [False, True], ids=["destinations-only", "any-destination"])
@pytest.mark.parametrize("target", METADATA_TARGETS)
def test_metadata_and_link_local_targets_are_403(
    running_emulators: dict[bool, Running], allow_any: bool, target: str
) -> None:
    running = running_emulators[allow_any]
    status, body = connect(running.relay_port, running.relay_ca_pem, target, running.info.api_key.encode())
    assert status == 403, body
    if allow_any or target.split(":")[0] in ("169.254.169.254", "metadata.google.internal"):
        assert b"metadata" in body or b"link-local" in body


def own_listener_targets(running: Running) -> list[str]:
    api, relay = running.api_port, running.relay_port
    return [
        f"127.0.0.1:{api}",
        f"localhost:{api}",  # a name that resolves to the emulator's address
        f"127.1:{api}",
        f"2130706433:{api}",
        f"[::ffff:127.0.0.1]:{api}",
        f"0.0.0.0:{api}",
        f"127.0.0.1:{relay}",
        f"localhost:{relay}",
    ]


@pytest.mark.parametrize("allow_any", [False, True], ids=["destinations-only", "any-destination"])
def test_the_emulators_own_api_and_relay_ports_are_403(
    running_emulators: dict[bool, Running], allow_any: bool
) -> None:
    running = running_emulators[allow_any]
    for target in own_listener_targets(running):
        status, body = connect(
            running.relay_port, running.relay_ca_pem, target, running.info.api_key.encode()
        )
        assert status == 403, (target, body)
        if allow_any or target.startswith(("127.0.0.1:", "localhost:")):
            assert b"own listener" in body or b"unspecified" in body, (target, body)


def test_configured_loopback_destinations_still_work(strict: Running, echo: HTTPServer) -> None:
    with strict.info.client() as client:
        encrypted = client.encrypt({"card": "4242"})
    for host in ("localhost", "127.0.0.1"):
        reply = through(strict, strict.info.api_key).request("POST", echo_url(echo, host), json=encrypted)
        assert reply.status == 200
        assert json.loads(reply.json()["body"]) == {"card": "4242"}


# --- (c) configured destinations only, unless allowed -------------------------------------------


def test_hosts_that_are_not_destinations_are_403_by_default(strict: Running, plain_echo: HTTPServer) -> None:
    # 127.1 (127.0.0.1 spelled short) reaches the echo server but is not a configured destination.
    status, body = connect(
        strict.relay_port, strict.relay_ca_pem, f"127.1:{plain_echo.port}", strict.info.api_key.encode()
    )
    assert status == 403
    assert b"--relay-allow-any-destination" in body


def test_with_any_destination_allowed_other_hosts_are_tunnelled_untouched(
    any_host: Running, echo: HTTPServer, destination_ca_file: str
) -> None:
    with any_host.info.client() as client:
        encrypted = client.encrypt("stays encrypted")
    # 127.1 is not a destination: a raw tunnel, TLS end to end with the echo server (trusted
    # by its own CA alone, checked as 'localhost', a name its certificate holds).
    destination_trust = ssl.create_default_context(cafile=destination_ca_file)
    manager = through(
        any_host, any_host.create_tokens_key, ssl_context=destination_trust, server_hostname="localhost"
    )
    reply = manager.request("POST", f"https://127.1:{echo.port}/echo", json={"v": encrypted})
    assert reply.status == 200
    assert json.loads(reply.json()["body"]) == {"v": encrypted}


# --- (d) decrypting takes the decrypt permission -----------------------------------------------------


def test_a_key_without_decrypt_gets_403_on_the_connect_to_a_destination(
    strict: Running, echo: HTTPServer
) -> None:
    target = f"localhost:{echo.port}"
    status, body = connect(strict.relay_port, strict.relay_ca_pem, target, strict.create_tokens_key.encode())
    assert status == 403 and b"'decrypt' permission" in body
    assert connect(strict.relay_port, strict.relay_ca_pem, target, strict.decrypt_key.encode())[0] == 200


def test_a_key_without_decrypt_inside_the_tunnel_gets_403_and_nothing_is_forwarded(
    strict: Running, echo: HTTPServer
) -> None:
    with strict.info.client() as client:
        encrypted = client.encrypt({"card": "4242"})
    manager = through(strict, None)  # the key only inside the tunnel, as the published SDK sends it
    before = len(echo.log)
    refused = manager.request(
        "POST",
        echo_url(echo),
        json=encrypted,
        headers={"Proxy-Authorization": strict.create_tokens_key},
        retries=False,
    )
    assert refused.status == 403 and b"4242" not in refused.data
    assert len(echo.log) == before
    allowed = manager.request(
        "POST", echo_url(echo), json=encrypted, headers={"Proxy-Authorization": strict.decrypt_key}
    )
    assert json.loads(allowed.json()["body"]) == {"card": "4242"}


# --- Proxy-Authorization bytes: 407, never a dropped connection ------------------------------------

# The few bytes h11 refuses in a header value (every other one reaches the credential parser).
H11_REFUSED_BYTES = frozenset([0x00, 0x0B, 0x0C])
PROXY_HEADER_VALUES = st.one_of(
    st.binary(max_size=60),
    st.binary(max_size=40).map(lambda junk: b"Basic " + junk),
    st.binary(max_size=40).map(lambda junk: b"Basic " + base64.b64encode(junk)),
    st.binary(max_size=30).map(lambda junk: b"Basic " + base64.b64encode(b"app_1234abcd5678:" + junk)),
    st.binary(max_size=30).map(lambda junk: API_KEY.encode()[:20] + junk),
).map(lambda value: value.replace(b"\r", b"").replace(b"\n", b""))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=PROXY_HEADER_VALUES)
def test_any_proxy_authorization_bytes_get_407_or_400(
    relay_proxy: RelayProxy, relay_ca: LocalCA, echo: HTTPServer, value: bytes
) -> None:
    assert relay_proxy.url is not None
    pem = relay_ca.cert_pem.decode()
    status, body = connect(_port(relay_proxy.url), pem, f"localhost:{echo.port}", value)
    if H11_REFUSED_BYTES.intersection(value):
        assert status == 400  # h11 refuses the header line itself
    else:
        assert status == 407, body
    assert API_KEY.encode() not in body and NO_DECRYPT_KEY.encode() not in body


def test_the_readme_documents_the_relay_rule() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Local emulator: `evervault-local`", 1)[1].split("\n## ", 1)[0]
    assert "relay" in section.lower() and "--relay-allow-any-destination" in section
    assert "169.254.169.254" in section and "decrypt" in section

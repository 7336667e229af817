"""Fixtures for the Outbound Relay tests: every server is real and listens on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import ec
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from evervault.adapters.system import default_encryptor
from evervault.bootstrap.clients import Client
from evervault.domain.curves import Curve, compressed_point
from evervault.domain.decryption import Decryptor
from evervault.domain.encryption import Encryptor
from evervault.local.pki import LocalCA
from evervault.local.relay_proxy import ProxyLimits, RelayProxy
from evervault.services.relay import disable_outbound_relay

from .relay_support import API_KEY, APP_ID, NO_DECRYPT_KEY, RecordingTunnelProxy, running_echo_server


@dataclass
class AppKeys:
    decryptor: Decryptor
    encryptor: Encryptor


@dataclass
class FakeApi:
    """The two API endpoints the relay uses: configuration and CA certificate."""

    server: HTTPServer
    destinations: list[str]
    poll_interval: str = "0.05"
    failing: bool = False
    ca_requests: list[dict[str, str]] = field(default_factory=list)

    def url(self, path: str = "/") -> str:
        return self.server.url_for(path)


@pytest.fixture(scope="session")
def destination_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def destination_ca_file(destination_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("destination-ca") / "ca.pem"
    destination_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def echo(destination_ca: trustme.CA) -> Iterator[HTTPServer]:
    with running_echo_server(destination_ca) as server:
        yield server


@pytest.fixture(scope="session")
def plain_echo() -> Iterator[HTTPServer]:
    with running_echo_server(None) as server:
        yield server


@pytest.fixture(scope="session")
def app_keys() -> AppKeys:
    private_key = ec.generate_private_key(ec.SECP256K1())
    public = compressed_point(private_key.public_key())
    return AppKeys(Decryptor({Curve.SECP256K1: private_key}), default_encryptor(Curve.SECP256K1, public))


@pytest.fixture(scope="session")
def relay_ca(tmp_path_factory: pytest.TempPathFactory) -> LocalCA:
    return LocalCA.load_or_create(tmp_path_factory.mktemp("relay-ca"))


@pytest.fixture
def proxy_destinations() -> list[str]:
    """What the relay proxy intercepts; tests may change it while the proxy runs."""
    return ["localhost"]


@pytest.fixture
def proxy_limits() -> ProxyLimits:
    return ProxyLimits()


@pytest.fixture
def proxy_allow_any_destination() -> bool:
    """Whether the relay proxy tunnels non-destination hosts (tests parametrize it)."""
    return False


@pytest.fixture
def relay_proxy(
    app_keys: AppKeys,
    relay_ca: LocalCA,
    destination_ca_file: str,
    proxy_destinations: list[str],
    proxy_limits: ProxyLimits,
    proxy_allow_any_destination: bool,
) -> Iterator[RelayProxy]:
    proxy = RelayProxy(
        decryptor=app_keys.decryptor,
        authorize=lambda credential: credential in (API_KEY, NO_DECRYPT_KEY),
        may_decrypt=lambda credential: credential == API_KEY,
        app_id=APP_ID,
        allow_any_destination=proxy_allow_any_destination,
        destinations=lambda: list(proxy_destinations),
        ca=relay_ca,
        upstream_ca_file=destination_ca_file,
        limits=proxy_limits,
    )
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def fake_api(relay_ca: LocalCA, proxy_destinations: list[str]) -> Iterator[FakeApi]:
    server = HTTPServer(host="127.0.0.1", port=0)
    api = FakeApi(server, proxy_destinations)

    def relay_outbound(request: Request) -> Response:
        if api.failing:
            return Response('{"code":"server-error"}', status=500, content_type="application/json")
        body: dict[str, Any] = {
            "appUuid": APP_ID,
            "outboundDestinations": {
                domain: {"destinationDomain": domain, "id": index}
                for index, domain in enumerate(api.destinations)
            },
        }
        return Response(
            json.dumps(body), content_type="application/json", headers={"X-Poll-Interval": api.poll_interval}
        )

    def ca_certificate(request: Request) -> Response:
        api.ca_requests.append(dict(request.headers))
        return Response(relay_ca.cert_pem, content_type="application/x-pem-file")

    server.expect_request("/v2/relay-outbound").respond_with_handler(relay_outbound)
    server.expect_request("/ca.crt").respond_with_handler(ca_certificate)
    server.start()
    yield api
    server.stop()


@pytest.fixture
def client(fake_api: FakeApi, relay_proxy: RelayProxy) -> Iterator[Client]:
    with Client(
        APP_ID,
        API_KEY,
        base_url=fake_api.url("/"),
        relay_url=relay_proxy.url,
        ca_host=fake_api.url("/ca.crt"),
        environ={},
    ) as created:
        yield created


@pytest.fixture
def callers_proxy() -> Iterator[RecordingTunnelProxy]:
    proxy = RecordingTunnelProxy()
    yield proxy
    proxy.close()


@pytest.fixture(autouse=True)
def relay_disabled_afterwards() -> Iterator[None]:
    yield
    disable_outbound_relay()
